"""Shared base for every section of the campaign schema."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Seed = Annotated[int, Field(ge=0, lt=2**31)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class Section(BaseModel):
    """A campaign section: every key typed, unknown keys rejected, values immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
