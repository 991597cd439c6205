"""Network definitions (generator, discriminator) and the shipped weights."""
