"""Composition: a config and a bundle become a running loop, at start-up and on SIGHUP."""
