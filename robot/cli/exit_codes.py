"""The exit codes of ``python -m robot``."""

#: Success.
EXIT_OK = 0
#: The runtime failed while running, ``check`` found a problem, or ``stop`` could not reach
#: the drive.
EXIT_FAILED = 1
#: The config, the bundle or the arguments are wrong (nothing was moved).
EXIT_USAGE = 2
#: The supervisor stopped a robot that stayed stuck, with ``[supervisor] on_stuck = "exit"``
#: (the service unit does not restart it: ``RestartPreventExitStatus=3``).
EXIT_STUCK = 3
