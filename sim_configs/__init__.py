"""Simulated station files (pyvisa-sim YAML plus the qpclab lab description)."""
