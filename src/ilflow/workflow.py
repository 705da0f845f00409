"""A campaign as a sequence of stages in a project directory (each skipped when already complete)."""

from pathlib import Path

from rich.console import Console

from ilflow.config import Campaign
from ilflow.io import write_frames
from ilflow.project import Project, StageResult


def build_stage(campaign: Campaign, project: Project) -> StageResult:
    """Stage `build`: the campaign's box as `build/box.extxyz`."""
    from ilflow.system import build_box

    inputs = {"species": [s.model_dump() for s in campaign.species], "box": campaign.box.model_dump()}

    def produce(directory: Path) -> list[Path]:
        return [write_frames(directory / "box.extxyz", build_box(campaign.species, campaign.box))]

    return project.run_stage("build", inputs, produce)


def run_campaign(campaign: Campaign, root: str | Path, console: Console | None = None) -> list[StageResult]:
    """Run every stage built so far; print one line per stage."""
    from ilflow.io import read_frames
    from ilflow.system import summarize

    console = console or Console()
    project = Project(root)
    with console.status("build: packing the box..."):
        result = build_stage(campaign, project)
    box_path = result.outputs[0]
    state = "built" if result.ran else "up to date, skipped"
    console.print(f"build ({state}): {box_path}")
    console.print(f"  {summarize(read_frames(box_path)[0])}")
    return [result]
