"""``python -m robot``: see ``robot.cli``."""

from robot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
