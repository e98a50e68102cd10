"""The error a user can act on.

`InputError` is raised where the input data or the config does not fit (a column the table
lacks, an empty or changed file, a modality that never arrived); its message names the file or
the config key and says what to do. A workflow job prints it as it is, without a traceback
(`miam.runs.runlog.log_to`): the traceback would point into our code, not at the user's input.
"""


class InputError(ValueError):
    """The input data or the config does not fit; the message says which and what to do."""
