"""Running the CLI in-process and checking its one-line errors (shared by the CLI test files)."""

from hourglass.cli.main import main


def cli(argv, capsys):
    """Run the CLI in-process: (exit status, stdout, stderr); argparse exits via SystemExit."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(rc, err, *fragments):
    """Status 2 and exactly one line `hourglass: error: ...` holding every fragment."""
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hourglass: error: ") and "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
