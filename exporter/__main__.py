"""`python -m exporter` and the `exporter` script (pyproject's entry point is `run`).

The command line is imported inside run(): a render worker imports the script that started
the run before its first task, and needs nothing of the command line.
"""


def run() -> None:
    from exporter.cli import main

    main(prog_name="exporter")


if __name__ == "__main__":
    run()
