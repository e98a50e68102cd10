"""A config error as the workflow prints it: one or two lines naming the key path, what is
wrong and, where a known key or value is close, the one meant ("did you mean `table`?").

The schema's errors (jsonschema's, through `snakemake.utils.validate`) would otherwise print the
whole schema of the key and the config's value (tens of lines); `pipeline.check_config`'s are
ValueErrors whose message already names the key.
"""

from __future__ import annotations

import reprlib

from miam.core.options import did_you_mean

# A value printed short: a subset or a list of strategies, not a whole section.
SHORT = reprlib.Repr()
SHORT.maxstring = SHORT.maxother = 60
SHORT.maxlist = SHORT.maxdict = 6
SHORT.maxlevel = 2


def config_error(error: Exception) -> str:
    """The message of a config error (the schema's, which Snakemake's WorkflowError holds as
    its context, or a ValueError of `pipeline.check_config`)."""
    schema_error = error.__context__
    if hasattr(schema_error, "absolute_path"):
        return schema_error_message(schema_error)
    return str(error)


def schema_error_message(error) -> str:
    """One line for a jsonschema ValidationError: `datasets.x.reader_options: unknown key
    `tabel` (did you mean `table`?)`."""
    path = ".".join(map(str, error.absolute_path)) or "the config"
    kind, instance, schema = error.validator, error.instance, error.schema
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        unknown = [key for key in instance if key not in known]
        if unknown:
            key = unknown[0]
            hint = did_you_mean(key, known) or f"; keys: {', '.join(known)}"
            return f"{path}: unknown key `{key}`{hint}"
    if kind == "enum":
        values = [str(v) for v in error.validator_value]
        hint = did_you_mean(instance, values)
        return f"{path}: {instance!r} is not one of {', '.join(values)}{hint}"
    if kind == "required":
        missing = next((k for k in error.validator_value if k not in instance), None)
        if not instance and not error.absolute_path:
            return (
                "the config is empty: name one with --configfile (config/config.yaml is the "
                "demo, config/test.yaml the tiny preset)"
            )
        return f"{path}: `{missing}` is required"
    return f"{path}: {SHORT.repr(instance)} is not valid: {error.message.splitlines()[0][-120:]}"
