"""qpclab drivers, in pymeasure's declarative style, for instruments pymeasure lacks."""
