"""Parse a modality spec (TOML) that describes a per-learner table from any school.

A spec names one CSV file with a row per learner, its key column, the target and which columns
form each modality. A modality is either static (columns of the learner table) or a sequence
(a long table with one row per learner and step, ordered by a time column). Example:

    name = "my_school"
    table = "my_school/learners.csv"       # relative to the data folder (DSRSD_DATA_DIR)
    key = "student_id"                     # optional; without it the row number is the key

    [target]
    column = "final_grade"
    pass_at_least = 10                     # numeric target: Pass when >= 10, otherwise Fail
    # or: classes = { passed = "Pass", failed = "Fail" }  (each value -> an outcome class)

    [modalities.background]
    categorical = ["sex", "address"]
    numeric = ["age"]

    [modalities.quizzes]                   # a sequence modality
    table = "my_school/quizzes.csv"
    time = "week"
    numeric = ["score"]

`parse_spec` checks the file's structure; `dsrsd.data.spec_table.load_spec_table` checks it
against the data. Both raise `SpecError` naming the bad value and the fix.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dsrsd.data.oulad import OUTCOME_CLASSES
from dsrsd.data.tables import DataError

TOP_LEVEL = {"name", "table", "key", "separator", "target", "split", "modalities"}
TARGET_FIELDS = {"column", "pass_at_least", "classes"}
SPLIT_FIELDS = {"test_fraction", "validation_fraction", "seed"}
MODALITY_FIELDS = {"categorical", "numeric", "table", "time", "key", "separator"}


class SpecError(DataError):
    """A modality spec is invalid or does not match its table; the message names the value and the fix."""


@dataclass(frozen=True)
class ModalitySpec:
    name: str
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    table: str | None = None     # a long table makes a sequence modality
    time: str | None = None      # column of the long table that orders the steps
    key: str | None = None       # key column of the long table; default: the spec's key
    separator: str = ","

    @property
    def kind(self) -> str:
        return "sequence" if self.table else "static"

    @property
    def columns(self) -> list[str]:
        return self.categorical + self.numeric


@dataclass(frozen=True)
class Spec:
    name: str
    table: str
    target: str
    modalities: list[ModalitySpec]
    key: str | None = None
    separator: str = ","
    pass_at_least: float | None = None
    classes: dict[str, str] | None = None    # target value -> outcome class
    test_fraction: float = 0.2
    validation_fraction: float = 0.15
    seed: int = 0

    def to_dict(self) -> dict:
        """Return the spec as JSON-ready data, which `spec_from_dict` reads back."""
        return asdict(self)


def spec_from_dict(values: dict) -> Spec:
    """Rebuild a `Spec` from `Spec.to_dict` output, for example from a checkpoint's config.json."""
    modalities = [ModalitySpec(**modality) for modality in values["modalities"]]
    return Spec(**{**values, "modalities": modalities})


def read_spec(path: str | Path) -> Spec:
    """Read and parse a spec file; raise `SpecError` when it is missing, not TOML or invalid."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SpecError(f"spec file {path} cannot be read ({error.strerror}); check the --spec path") from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"spec file {path} is not valid TOML ({error})") from error
    return parse_spec(document, source=str(path))


def _expect(value, kind: type | tuple, where: str, source: str, example: str):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python, but `seed = true` is a mistake, not the number 1.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise SpecError(
            f"{source}: {where} has the wrong type ({type(value).__name__} {value!r}); expected {example}"
        )
    return value


def _string_list(value, where: str, source: str) -> list[str]:
    _expect(value, list, where, source, 'a list of column names, such as ["age", "sex"]')
    for item in value:
        _expect(item, str, f"an entry of {where}", source, "a column name in quotes")
    return list(value)


def _unknown_fields(values: dict, known: set[str], where: str, source: str) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise SpecError(f"{source}: unknown field(s) {unknown} in {where}; the known fields are {sorted(known)}")


def parse_spec(document: dict, source: str = "spec") -> Spec:
    """Check a parsed TOML document and return its `Spec`.

    Raises:
        SpecError: a field is missing, unknown or of the wrong type, the target is missing or also an
            input, a column is in two modalities, or a modality has no columns.
    """
    _unknown_fields(document, TOP_LEVEL, "the top level", source)
    for name in ("name", "table"):
        if name not in document:
            raise SpecError(f"{source}: missing field {name!r} at the top level")
        _expect(document[name], str, f"field {name!r}", source, "a string")
    key = _expect(document["key"], str, "field 'key'", source, "a column name") if "key" in document else None
    separator = _expect(document.get("separator", ","), str, "field 'separator'", source, 'a string such as ";"')

    target = document.get("target")
    if target is None:
        raise SpecError(f'{source}: missing [target] section; add one with column = "..." and pass_at_least or classes')
    _expect(target, dict, "[target]", source, "a table with column and pass_at_least or classes")
    _unknown_fields(target, TARGET_FIELDS, "[target]", source)
    if "column" not in target:
        raise SpecError(f'{source}: missing target column; set column = "..." in [target]')
    target_column = _expect(target["column"], str, "[target] column", source, "a column name")
    pass_at_least, classes = _target_rule(target, source)

    split = _expect(document.get("split", {}), dict, "[split]", source, "a table")
    _unknown_fields(split, SPLIT_FIELDS, "[split]", source)
    test_fraction = float(_expect(split.get("test_fraction", 0.2), (int, float), "[split] test_fraction", source, "a number"))
    validation_fraction = float(_expect(split.get("validation_fraction", 0.15), (int, float),
                                        "[split] validation_fraction", source, "a number"))
    seed = _expect(split.get("seed", 0), int, "[split] seed", source, "a whole number")
    if not (0 < test_fraction < 1 and 0 < validation_fraction < 1 and test_fraction + validation_fraction < 1):
        raise SpecError(
            f"{source}: invalid split fractions test {test_fraction} and validation {validation_fraction}; "
            "each must lie between 0 and 1, and together below 1"
        )

    modalities = _modalities(document.get("modalities"), source)
    _check_columns(modalities, target_column, key, source)
    return Spec(
        name=document["name"], table=document["table"], target=target_column, modalities=modalities, key=key,
        separator=separator, pass_at_least=pass_at_least, classes=classes, test_fraction=test_fraction,
        validation_fraction=validation_fraction, seed=seed,
    )


def _target_rule(target: dict, source: str) -> tuple[float | None, dict[str, str] | None]:
    if ("pass_at_least" in target) == ("classes" in target):
        raise SpecError(
            f"{source}: [target] needs exactly one of pass_at_least (a number) or classes (value -> outcome class)"
        )
    if "pass_at_least" in target:
        return float(_expect(target["pass_at_least"], (int, float), "[target] pass_at_least", source, "a number")), None
    classes = _expect(target["classes"], dict, "[target] classes", source, '{ value = "Pass", ... }')
    for value, outcome in classes.items():
        if outcome not in OUTCOME_CLASSES:
            raise SpecError(
                f"{source}: [target] classes maps {value!r} to {outcome!r}; map each value to one of {OUTCOME_CLASSES}"
            )
    if len(set(classes.values())) < 2:
        raise SpecError(f"{source}: [target] classes uses only {sorted(set(classes.values()))}; name at least two classes")
    return None, dict(classes)


def _modalities(section, source: str) -> list[ModalitySpec]:
    if not section:
        raise SpecError(f"{source}: missing [modalities.NAME] sections; define at least one modality")
    _expect(section, dict, "[modalities]", source, "one [modalities.NAME] table per modality")
    modalities = []
    for name, values in section.items():
        where = f"[modalities.{name}]"
        _expect(values, dict, where, source, "a table with categorical and/or numeric column lists")
        _unknown_fields(values, MODALITY_FIELDS, where, source)
        categorical = _string_list(values.get("categorical", []), f"{where} categorical", source)
        numeric = _string_list(values.get("numeric", []), f"{where} numeric", source)
        if not categorical and not numeric:
            raise SpecError(f"{source}: {where} has no columns; list them under categorical or numeric")
        table = _expect(values["table"], str, f"{where} table", source, "a file path") if "table" in values else None
        time = _expect(values["time"], str, f"{where} time", source, "a column name") if "time" in values else None
        if (table is None) != (time is None):
            raise SpecError(f"{source}: {where} needs both table and time for a sequence modality, or neither")
        if table is not None and categorical:
            raise SpecError(f"{source}: {where} is a sequence modality, which takes numeric columns only")
        modalities.append(ModalitySpec(
            name=name, categorical=categorical, numeric=numeric, table=table, time=time,
            key=_expect(values["key"], str, f"{where} key", source, "a column name") if "key" in values else None,
            separator=_expect(values.get("separator", ","), str, f"{where} separator", source, "a string"),
        ))
    return modalities


def _check_columns(modalities: list[ModalitySpec], target: str, key: str | None, source: str) -> None:
    owner: dict[str, str] = {}
    for modality in modalities:
        seen: set[str] = set()
        for column in modality.columns:
            if column in seen:
                raise SpecError(f"{source}: column {column!r} is listed twice in modality {modality.name!r}")
            seen.add(column)
            if modality.kind == "sequence":
                # A long table has its own columns, so its names may repeat names of the learner table.
                continue
            if column == target:
                raise SpecError(f"{source}: the target column {target!r} is also an input of modality "
                                f"{modality.name!r}; remove it there")
            if column == key:
                raise SpecError(f"{source}: the key column {key!r} is an input of modality {modality.name!r}; remove it there")
            if column in owner:
                raise SpecError(f"{source}: column {column!r} is in two modalities, {owner[column]!r} and "
                                f"{modality.name!r}; keep it in one")
            owner[column] = modality.name
