"""Shared base for every section of the campaign schema."""

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _not_a_boolean(value):
    # YAML's true/false would otherwise pass as 1 and 0 (`count: true` as one molecule)
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a yes/no value; give a number")
    return value


Number = BeforeValidator(_not_a_boolean)
PositiveFloat = Annotated[float, Number, Field(gt=0)]
NonNegativeFloat = Annotated[float, Number, Field(ge=0)]
PositiveInt = Annotated[int, Number, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Number, Field(ge=0, strict=True)]
Seed = Annotated[int, Number, Field(ge=0, lt=2**31, strict=True)]
Fraction = Annotated[float, Number, Field(gt=0, lt=1)]
# a name that becomes a directory name (campaign, production run, final model): no path separators, no leading dot
SafeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9_.+\- ]*[A-Za-z0-9_.+\-])?$", max_length=64)]


class Section(BaseModel):
    """A campaign section: every key typed, unknown keys rejected, NaN and infinities refused, values immutable
    once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)
