"""The control loop: snapshot → observation → decide → drive → record, at a fixed rate."""
