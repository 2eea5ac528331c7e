"""The one exception type the CLI turns into a clear message instead of a traceback."""


class BenchmarkError(Exception):
    """A problem the user can fix (bad input, missing file, wrong params), said in one plain sentence."""


class DataError(BenchmarkError):
    """Bad input data: the message names the file, the column and the row where known."""

    def __init__(self, file: str, message: str, column: str | None = None, row: int | None = None):
        where = file
        if column is not None:
            where += f", column '{column}'"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {message}")
        self.file, self.column, self.row = file, column, row


class ModelError(Exception):
    """The model misbehaved (wrong shape, NaN, exception): its own run fails, nothing else."""
