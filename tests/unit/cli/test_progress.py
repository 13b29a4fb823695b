import io

from face3d.cli.progress import ProgressBar, render


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_fills_with_the_work_done() -> None:
    assert render("sets", 0, 4) == "sets: [" + "." * 30 + "] 0/4"
    assert render("sets", 2, 4) == "sets: [" + "#" * 15 + "." * 15 + "] 2/4"
    assert render("sets", 4, 4) == "sets: [" + "#" * 30 + "] 4/4"
    assert render("listing incoming/", 12000, None) == "listing incoming/: 12000"


def test_it_draws_on_a_terminal_only_and_clears_itself() -> None:
    piped = io.StringIO()
    bar = ProgressBar(piped)
    bar("sets", 1, 2)
    bar.close()
    assert piped.getvalue() == ""

    terminal = Terminal()
    now = [0.0]
    bar = ProgressBar(terminal, clock=lambda: now[0])
    bar("sets", 1, 4)
    bar("sets", 2, 4)  # within the interval: not redrawn
    bar("sets", 4, 4)  # the last one always is
    bar.close()
    assert terminal.getvalue().count("\r\033[K") == 3
    assert "1/4" in terminal.getvalue()
    assert "2/4" not in terminal.getvalue()
    assert terminal.getvalue().endswith("4/4\r\033[K")
