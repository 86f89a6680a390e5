"""Policies: frame + instruction in, env actions out. See ``base.Policy``."""
