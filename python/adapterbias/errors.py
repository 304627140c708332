"""The exceptions of adapterbias: one per error class of the C++ library, carrying its message.

Each also subclasses the built-in exception a Python caller would catch for that kind of problem, and has the
exit code `adapterbias` (the CLI) ends with for it.
"""


class Error(Exception):
    """Any adapterbias error."""

    exit_code = 1


class InputError(Error, ValueError):
    """Bad input: a missing or malformed file or row, an unknown task, an option value out of range."""

    exit_code = 3


class FormatError(Error, ValueError):
    """A file that does not parse: a checkpoint, safetensors header, tokenizer.json, an adapter file."""

    exit_code = 4


class MismatchError(Error, ValueError):
    """Parts that are each valid but do not fit together: another backbone's adapter, other labels, shapes."""

    exit_code = 5


class DistributedError(Error, RuntimeError):
    """A data-parallel rank failed, hung past the timeout or never arrived."""

    exit_code = 6


class DivergedError(Error, ArithmeticError):
    """Training produced a NaN or infinite loss; nothing from the diverged steps was saved."""

    exit_code = 7
