"""The simulated instruments, one module per instrument model; :mod:`qpclab.instruments.registry` names them."""
