"""Hardware backends behind one small interface (``base.Hardware``): gpio, serial, sim, gym."""
