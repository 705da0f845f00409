"""Bad input, table-driven: each row is a command line, its exit status, a phrase of its message, and the rule that
every file that existed before is byte-identical afterwards and nothing new was written (a refusal happens before
any output). The commands run in-process through the console entry point (`ilflow.cli.main`), as the `ilflow`
executable runs them, so that ~90 cases take seconds rather than a Python start-up each.

Placeholders in the rows: {db} a 4-row labelled dataset, {model} a model directory (elements B and F), {campaign} a
valid campaign file, {frames} the dataset's frames as extxyz, {d} the case's own directory (a copy of all of these).
"""

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from conftest import BF4, BMIM

CAMPAIGN = f"""name: tiny
species:
  - {{name: BMIM, smiles: "{BMIM}", count: 1}}
  - {{name: BF4, smiles: "{BF4}", count: 1}}
box: {{density_g_cm3: 1.0}}
"""


def _campaign(body: str) -> str:
    return CAMPAIGN + body


def _bf4_frames(n: int, labelled: bool = True, seed: int = 0) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [1.4, 0, 0], [-0.47, 1.32, 0], [-0.47, -0.66, 1.14], [-0.47, -0.66, -1.14]])
    frames = []
    for _ in range(n):
        atoms = Atoms("BF4", positions=base + 4.0 + rng.normal(0, 0.03, base.shape), cell=[8, 8, 8], pbc=True)
        if labelled:
            atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()), forces=rng.normal(size=(5, 3)),
                                               stress=rng.normal(size=6) * 1e-3)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The files every case starts from."""
    import jax

    from ilflow.data import Dataset
    from ilflow.io import write_frames
    from ilflow.potentials.gmnn import GMNNConfig
    from ilflow.potentials.model_io import save_model
    from ilflow.training.trainer import init_ensemble

    root = tmp_path_factory.mktemp("pristine")
    frames = _bf4_frames(4)
    dataset = Dataset(root / "v.db")
    for atoms, split in zip(frames, ["train", "train", "validation", "test"]):
        dataset.add(atoms, split=split, method="synthetic", settings_hash="synthetic")
    write_frames(root / "frames.extxyz", frames)
    write_frames(root / "bare.extxyz", _bf4_frames(2, labelled=False))
    methane = Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63],
                                      [0.63, -0.63, -0.63]], cell=[8, 8, 8], pbc=True)
    methane.calc = SinglePointCalculator(methane, energy=-1.0, forces=np.zeros((5, 3)))
    write_frames(root / "methane.extxyz", [methane])
    molecule = Atoms("BF4", positions=_bf4_frames(1)[0].positions)  # no cell
    write_frames(root / "molecule.extxyz", [molecule])
    config = GMNNConfig(elements=(5, 9), n_basis=4, n_radial=2, r_max_A=4.0, hidden=(4,))
    save_model(root / "model", config, init_ensemble(config, 2, frames, 0))
    (root / "campaign.yaml").write_text(CAMPAIGN)
    (root / "notes.txt").write_text("not a dataset\n")
    (root / "truncated.db").write_bytes((root / "v.db").read_bytes()[:1000])
    (root / "a-directory").mkdir()
    (root / "a-directory" / "keep.txt").write_text("keep\n")
    (root / "empty").mkdir()
    for name, text in [("broken-json", "{not json"), ("json-list", "[1, 2]")]:
        shutil.copytree(root / "model", root / name)
        (root / name / "model.json").write_text(text)
    shutil.copytree(root / "model", root / "truncated-params")
    data = (root / "model" / "params.npz").read_bytes()
    (root / "truncated-params" / "params.npz").write_bytes(data[: len(data) // 2])
    shutil.copytree(root / "model", root / "wrong-shape")
    arrays = dict(np.load(root / "model" / "params.npz"))
    arrays["['layers'][0]['w']"] = np.zeros((3, 3), np.float32)
    np.savez(root / "wrong-shape" / "params.npz", **arrays)
    (root / "project").mkdir()
    (root / "project" / "project.json").write_text('{"campaign": "tiny"}\n')
    (root / "project" / "build").mkdir()
    (root / "project" / "build" / "manifest.json").write_text("[1, 2, 3]\n")
    (root / "nested.yaml").write_text("name: " + "[" * 5000 + "]" * 5000 + "\n")
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + k)}: &{chr(98 + k)} [" + ", ".join([f"*{chr(97 + k)}"] * 9) + "]" for k in range(8)]
    (root / "laughs.yaml").write_text("\n".join(laughs) + "\n")
    (root / "ramps.yaml").write_text("temperature_ramp: {start_K: [\n")
    jax.clear_caches()
    return root


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    from ilflow.cli import main

    old = sys.argv
    sys.argv = ["ilflow", *argv]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out + captured.err


MD = "md --model {d}/model --structure {d}/frames.extxyz --steps 10 --frame-every 5"
EVAL = "evaluate --model {d}/model"
VALIDATE = "validate {d}/c.yaml"

CASES = [
    # -- outputs over things the command did not make (exit 2, nothing replaced) --
    ("export onto its own dataset", "data export {d}/v.db -o {d}/v.db", "also an input"),
    ("build onto a dataset", "build -s W:3:O --density-g-cm3 0.9 -o {d}/v.db", "ase.db dataset"),
    ("evaluate table onto its dataset", EVAL + " --db {d}/v.db --out {d}/v.db", "also an input"),
    ("evaluate table onto a campaign", EVAL + " --db {d}/v.db --out {d}/campaign.yaml", "YAML file"),
    ("evaluate table onto its model's json", EVAL + " --db {d}/v.db --out {d}/model/model.json", "also an input"),
    ("evaluate table onto a directory", EVAL + " --db {d}/v.db --out {d}/a-directory", "is a directory"),
    ("export onto a model directory", "data export {d}/v.db -o {d}/model", "is a directory"),
    ("export onto a campaign", "data export {d}/v.db -o {d}/campaign.yaml", "YAML file"),
    ("export onto a text file", "data export {d}/v.db -o {d}/notes.txt", "--force"),
    ("train over a model", "train --db {d}/v.db -o {d}/model --epochs 1", "model directory"),
    ("train into its dataset", "train --db {d}/v.db -o {d}/v.db --epochs 1", "also an input"),
    ("train into its warm start", "train --db {d}/v.db --warm-start {d}/model -o {d}/model --epochs 1",
     "also an input"),
    ("train into a full directory", "train --db {d}/v.db -o {d}/a-directory --epochs 1", "--force"),
    ("md into its model", MD + " -o {d}/model", "also an input"),
    ("md into a dataset", MD + " -o {d}/v.db", "ase.db dataset"),
    ("md into a project", MD + " -o {d}/project", "project directory"),
    ("classical into a campaign", "classical --structure {d}/frames.extxyz -o {d}/campaign.yaml", "give a directory"),
    ("build onto its campaign", "build --campaign {d}/campaign.yaml -o {d}/campaign.yaml", "also an input"),
    ("export into /proc", "data export {d}/v.db -o /proc/ilflow-test.extxyz", "/proc"),
    ("run --dir a file", "run {d}/campaign.yaml --dir {d}/notes.txt", "notes.txt"),
    ("run --dir a dataset", "run {d}/campaign.yaml --dir {d}/v.db", "v.db"),
    # -- datasets that are not datasets --
    ("info of a text file", "data info {d}/notes.txt", "notes.txt"),
    ("info of a truncated SQLite file", "data info {d}/truncated.db", "truncated.db"),
    ("info of a directory", "data info {d}/a-directory", "a-directory"),
    ("info of nothing", "data info {d}/missing.db", "does not exist"),
    ("export of a text file", "data export {d}/notes.txt -o {d}/out.extxyz", "notes.txt"),
    ("train on a truncated dataset", "train --db {d}/truncated.db -o {d}/m2 --epochs 1", "truncated.db"),
    ("train on a directory", "train --db {d}/a-directory -o {d}/m2 --epochs 1", "a-directory"),
    ("label into a text file", "label {d}/frames.extxyz --db {d}/notes.txt --workers 1", "notes.txt"),
    ("label into a truncated dataset", "label {d}/frames.extxyz --db {d}/truncated.db --workers 1", "truncated.db"),
    ("label into a directory", "label {d}/frames.extxyz --db {d}/a-directory --workers 1", "a-directory"),
    # -- models that are not models --
    ("evaluate a broken model.json", "evaluate --model {d}/broken-json --db {d}/v.db", "model.json"),
    ("evaluate a model.json list", "evaluate --model {d}/json-list --db {d}/v.db", "model.json"),
    ("evaluate truncated params", "evaluate --model {d}/truncated-params --db {d}/v.db", "params.npz"),
    ("evaluate wrong-shaped params", "evaluate --model {d}/wrong-shape --db {d}/v.db", "params.npz"),
    ("evaluate a file as model", "evaluate --model {d}/notes.txt --db {d}/v.db", "not a model directory"),
    ("evaluate a missing model", "evaluate --model {d}/nothing --db {d}/v.db", "not a model directory"),
    ("md with a broken model", MD.replace("{d}/model", "{d}/broken-json") + " -o {d}/run", "model.json"),
    ("md with truncated params", MD.replace("{d}/model", "{d}/truncated-params") + " -o {d}/run", "params.npz"),
    ("evaluate foreign elements", EVAL + " --frames {d}/methane.extxyz", "H, C"),
    ("evaluate unlabelled frames", EVAL + " --frames {d}/bare.extxyz", "no energy"),
    ("md with foreign elements", "md --model {d}/model --structure {d}/methane.extxyz -o {d}/run", "H, C"),
    # -- numbers that are not numbers --
    ("build at infinite density", "build -s W:3:O --density-g-cm3 inf -o {d}/box.extxyz", "finite"),
    ("build with NaN tolerance", "build -s W:3:O --density-g-cm3 0.9 --tolerance-A nan -o {d}/b.extxyz", "finite"),
    ("build with negative tolerance", "build -s W:3:O --density-g-cm3 0.9 --tolerance-A -1 -o {d}/b.extxyz",
     "tolerance"),
    ("md with a NaN time step", MD + " --timestep-fs nan -o {d}/run", "finite"),
    ("md with an infinite temperature", MD + " --temperature-K inf -o {d}/run", "finite"),
    ("md with a negative temperature", MD + " --temperature-K -5 -o {d}/run", "temperature"),
    ("md with NaN uncertainty", MD + " --max-uncertainty-eV-A nan -o {d}/run", "finite"),
    ("md with a NaN D3 cutoff", MD + " --dispersion b97-3c --d3-cutoff-A nan -o {d}/run", "finite"),
    ("md with zero steps", MD.replace("--steps 10", "--steps 0") + " -o {d}/run", "steps"),
    ("md with steps not a multiple", MD.replace("--steps 10", "--steps 7") + " -o {d}/run", "multiple"),
    ("md with an unknown ensemble", MD + " --ensemble foo -o {d}/run", "foo"),
    ("md with an unknown dispersion", MD + " --dispersion nosuch -o {d}/run", "nosuch"),
    ("md with a zero dispersion step", MD + " --dispersion b97-3c --dispersion-step-fs 0 -o {d}/run",
     "dispersion-step-fs"),
    ("md with a molecule without cell", "md --model {d}/model --structure {d}/molecule.extxyz -o {d}/run",
     "periodic"),
    ("md with a missing structure", "md --model {d}/model --structure {d}/none.extxyz -o {d}/run", "does not exist"),
    ("md with a broken modifiers file", MD + " --modifiers {d}/ramps.yaml -o {d}/run", "ramps.yaml"),
    ("classical at infinite temperature", "classical --structure {d}/frames.extxyz --temperature-K inf -o {d}/c",
     "finite"),
    ("classical for infinite time", "classical --structure {d}/frames.extxyz --duration-ps inf -o {d}/c", "finite"),
    ("classical with zero frame interval", "classical --structure {d}/frames.extxyz --frame-every-ps 0 -o {d}/c",
     "frame-every-ps"),
    ("classical with both inputs", "classical --structure {d}/frames.extxyz --campaign {d}/campaign.yaml -o {d}/c",
     "exactly one"),
    ("train with zero epochs", "train --db {d}/v.db -o {d}/m2 --epochs 0", "epochs"),
    ("label with zero workers", "label {d}/frames.extxyz --db {d}/new.db --workers 0", "workers"),
    ("label with chunk size 0", "label {d}/frames.extxyz --db {d}/new.db --chunk-size 0", "chunk-size"),
    # -- choices and names --
    ("export split banana", "data export {d}/v.db --split banana -o {d}/out.extxyz", "banana"),
    ("evaluate split banana", EVAL + " --db {d}/v.db --split banana", "banana"),
    ("label split banana", "label {d}/frames.extxyz --db {d}/new.db --split banana", "banana"),
    ("evaluate with db and frames", EVAL + " --db {d}/v.db --frames {d}/frames.extxyz", "exactly one"),
    ("label a missing frame file", "label {d}/none.extxyz --db {d}/new.db", "does not exist"),
    ("build two species of one name", "build -s A:1:O -s A:1:N -o {d}/box.extxyz --density-g-cm3 0.5", "A"),
    ("build with campaign and species", "build --campaign {d}/campaign.yaml -s W:3:O -o {d}/box.extxyz",
     "not both"),
    ("build without a colon", "build -s BAD --density-g-cm3 1 -o {d}/box.extxyz", "NAME:COUNT:SMILES"),
    ("build with unknown relaxation", "build -s W:3:O --density-g-cm3 0.9 --relax foo -o {d}/box.extxyz", "foo"),
    ("run until nowhere", "run {d}/campaign.yaml --dir {d}/p --until nowhere", "nowhere"),
    # -- project directories --
    ("analyze a mistyped dir", "analyze {d}/campaign.yaml --dir {d}/no-such-project", "not an ilflow project"),
    ("report on an empty dir", "report {d}/campaign.yaml --dir {d}/empty", "not an ilflow project"),
    ("simulate a mistyped dir", "simulate {d}/campaign.yaml --dir {d}/no-such-project", "not an ilflow project"),
    ("status of a file", "status {d}/campaign.yaml --dir {d}/notes.txt", "notes.txt"),
    ("manifest that is a list", "status {d}/campaign.yaml --dir {d}/project", "manifest.json"),
    ("run over a list manifest", "run {d}/campaign.yaml --dir {d}/project", "manifest.json"),
    # -- campaign files --
    ("validate a missing file", "validate {d}/none.yaml", "none.yaml"),
    ("validate a directory", "validate {d}/a-directory", "a-directory"),
    ("validate a dataset", "validate {d}/v.db", "v.db"),
    ("validate deeply nested YAML", "validate {d}/nested.yaml", "nested"),
    ("validate alias-exploding YAML", "validate {d}/laughs.yaml", "aliases"),
]

# campaign bodies written to {d}/c.yaml for `validate` (and `run`, which checks the same before its first stage)
CAMPAIGN_CASES = [
    ("count: true", CAMPAIGN.replace("count: 1}", "count: true}", 1), "count"),
    ("count 2.5", CAMPAIGN.replace("count: 1}", "count: 2.5}", 1), "count"),
    ("density NaN", CAMPAIGN.replace("1.0}", ".nan}"), "density_g_cm3"),
    ("density infinite", CAMPAIGN.replace("1.0}", ".inf}"), "density_g_cm3"),
    ("density true", CAMPAIGN.replace("1.0}", "true}"), "density_g_cm3"),
    ("invalid SMILES", CAMPAIGN.replace(BMIM, "C1CC("), "SMILES"),
    ("net charge", CAMPAIGN.replace("count: 1}", "count: 2}", 1), "net charge"),
    ("unpackable density", CAMPAIGN.replace("1.0}", "2.6}"), "cannot be packed"),
    ("species name with a slash", CAMPAIGN.replace("name: BF4", "name: B/F4"), "name"),
    ("campaign name with dots", CAMPAIGN.replace("name: tiny", "name: ../up"), "name"),
    ("production run name with a slash", _campaign(
        "production:\n  runs:\n    - {name: a/b, ensemble: nvt, temperatures_K: [300], formula_units: [1]}\n"), "name"),
    ("production temperature infinite", _campaign(
        "production:\n  runs:\n    - {name: a, ensemble: nvt, temperatures_K: [.inf], formula_units: [1]}\n"),
     "temperatures_K"),
    ("empty file", "", "empty"),
    ("a list, not a mapping", "- 1\n- 2\n", "mapping"),
    ("binary", "\x00\x01\x02 not yaml", "c.yaml"),
    ("unknown key", CAMPAIGN + "boxx: {}\n", "boxx"),
]


def _argv(template: str, d: Path) -> list[str]:
    return template.format(d=d).split()


@pytest.fixture
def case_dir(pristine, tmp_path) -> Path:
    d = tmp_path / "case"
    shutil.copytree(pristine, d)
    return d


def _check(argv: list[str], d: Path, phrase: str, capsys) -> None:
    before = _snapshot(d)
    code, output = _run(argv, capsys)
    assert code == 2, (argv, code, output)
    assert "Traceback" not in output, output
    assert phrase.lower() in output.lower(), (phrase, output)
    assert _snapshot(d) == before, "a file was changed, removed or written"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_nothing_changes(case, case_dir, capsys):
    _, template, phrase = case
    _check(_argv(template, case_dir), case_dir, phrase, capsys)


@pytest.mark.parametrize("case", CAMPAIGN_CASES, ids=[c[0] for c in CAMPAIGN_CASES])
def test_bad_campaign_is_refused_by_validate_and_run(case, case_dir, capsys):
    _, text, phrase = case
    (case_dir / "c.yaml").write_text(text)
    _check(["validate", str(case_dir / "c.yaml")], case_dir, phrase, capsys)
    _check(["run", str(case_dir / "c.yaml"), "--dir", str(case_dir / "p")], case_dir, phrase, capsys)


def test_outputs_pointed_at_a_dataset_model_and_campaign_leave_them_intact(case_dir, capsys):
    """Every command that writes, with its output at each of the three expensive or hand-made things."""
    d = case_dir
    commands = [
        "build -s W:3:O --density-g-cm3 0.9 -o {out}",
        "data export {d}/v.db -o {out}",
        "evaluate --model {d}/model --db {d}/v.db --out {out}",
        "train --db {d}/v.db --epochs 1 -o {out}",
        "md --model {d}/model --structure {d}/frames.extxyz --steps 10 --frame-every 5 -o {out}",
        "classical --structure {d}/frames.extxyz --duration-ps 0.01 --equilibration-ps 0 -o {out}",
        "label {d}/frames.extxyz --db {out} --workers 1",
        "run {d}/campaign.yaml --dir {out}",
    ]
    targets = {"dataset": d / "v.db", "model": d / "model", "campaign": d / "campaign.yaml"}
    for command in commands:
        for kind, target in targets.items():
            if command.startswith("label") and kind == "dataset":
                continue  # label adds to a dataset: that is its purpose
            before = _snapshot(d)
            code, output = _run(command.format(d=d, out=target).split(), capsys)
            assert code == 2 and "Traceback" not in output, (command, kind, code, output)
            assert _snapshot(d) == before, (command, kind)


def test_force_replaces_an_extxyz_but_never_an_input(case_dir, capsys):
    d = case_dir
    out = d / "out.extxyz"
    assert _run(f"data export {d}/v.db -o {out}".split(), capsys)[0] == 0
    assert _run(f"data export {d}/v.db --split train -o {out}".split(), capsys)[0] == 0  # its own kind: replaced
    assert len(out.read_text().splitlines()) == 2 * 7
    assert _run(f"data export {d}/v.db -o {d}/notes.txt --force".split(), capsys)[0] == 0
    assert "Lattice=" in (d / "notes.txt").read_text()
    code, output = _run(f"data export {d}/v.db -o {d}/v.db --force".split(), capsys)
    assert code == 2 and "also an input" in output
    for _ in range(2):  # an error table replaces the error table it wrote before
        assert _run(f"evaluate --model {d}/model --db {d}/v.db --out {d}/errors.json".split(), capsys)[0] == 0


def test_a_bug_shows_its_traceback_and_asks_for_a_report(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("ilflow.config.load_campaign", broken)
    code, output = _run(["validate", "whatever.yaml"], capsys)
    assert code == 1
    assert "Traceback" in output and "ZeroDivisionError" in output and "report" in output


def test_labelling_frames_already_in_the_dataset_says_their_split_is_kept(pristine, tmp_path, capsys):
    """`label --split train` on frames the dataset holds (same reference settings) labels nothing and says that
    they keep their split, instead of only "already in the dataset"."""
    from ilflow.config.reference import XtbReference
    from ilflow.data import Dataset
    from ilflow.io import write_frames
    from ilflow.reference import make_labeler

    labeler = make_labeler(XtbReference())  # the reference `label` uses without a campaign
    dataset = Dataset(tmp_path / "known.db")
    for atoms in _bf4_frames(2):
        dataset.add(atoms, split="pool", method=labeler.method, settings_hash=labeler.settings_id)
    frames = write_frames(tmp_path / "frames.extxyz", _bf4_frames(2))
    code, output = _run(["label", str(frames), "--db", str(tmp_path / "known.db"), "--split", "train", "--workers", "1"],
                        capsys)
    assert code == 0, output
    assert "already in the dataset 2" in output
    assert "keep their label and their split" in output and "--split train" in output
    assert Dataset(tmp_path / "known.db").statistics()["split"] == {"pool": 2}
