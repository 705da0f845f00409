"""The report's 3D view: molecules made whole across the periodic boundary (against the unwrapped coordinates they
came from), the scene thinned to the report's size limit, and the page drawn by a real browser (Debian's headless
Chromium with its software WebGL), which reports the atoms, bonds and molecules 3Dmol.js drew."""

import json
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest
from ase.build import molecule

from ilflow.analysis.campaign import analyze_project
from ilflow.analysis.results import AnalysisResults, LearningSummary
from ilflow.analysis.scene import Scene, SceneView, bond_tree_levels, whole_molecules
from ilflow.config import load_campaign
from ilflow.project import Project
from ilflow.report import write_report
from synthetic_runs import synthetic_run

DEMO = "examples/demo.yaml"


def _split_box(frames: int = 5, seed: int = 0):
    """Four molecules (benzene, ethanol, BF4-like CH4, water) moving about an NPT-like 9-10 Å cubic box: the
    unwrapped positions (F, N, 3), the per-atom wrapped ones, the cells and the molecule ids."""
    rng = np.random.default_rng(seed)
    parts = [molecule(name) for name in ("C6H6", "CH3CH2OH", "CH4", "H2O")]
    ids = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)])
    numbers = np.concatenate([p.numbers for p in parts])
    edges = 9.0 + rng.uniform(0.0, 1.0, frames)
    cells = edges[:, None, None] * np.eye(3)
    unwrapped = []
    for f in range(frames):  # each molecule turned and put anywhere, often across a face or an edge of the box
        x = []
        for p in parts:
            q = p.copy()
            q.rotate(rng.uniform(0, 360), rng.normal(size=3))
            x.append(q.positions - q.positions.mean(0) + rng.uniform(-2, 12, 3))
        unwrapped.append(np.concatenate(x))
    unwrapped = np.array(unwrapped)
    wrapped = unwrapped - np.floor(unwrapped / edges[:, None, None]) * edges[:, None, None]
    return unwrapped, wrapped, cells, ids, numbers


def test_whole_molecules_are_the_unwrapped_molecules_moved_by_one_lattice_vector_each():
    unwrapped, wrapped, cells, ids, numbers = _split_box()
    split = [np.ptp(wrapped[f][ids == m], axis=0).max() > 5.0 for f in range(len(cells)) for m in range(4)]
    assert sum(split) >= 5  # many molecules of the input are cut by the boundary (benzene spans 5 Å at most)
    levels = bond_tree_levels(wrapped[0], cells[0], numbers, ids)
    whole = whole_molecules(wrapped, cells, ids, levels)
    for f, cell in enumerate(cells):
        shift = (whole[f] - unwrapped[f]) / np.diag(cell)  # fractional shift of every atom
        assert np.allclose(shift, np.round(shift), atol=1e-9)  # whole lattice vectors ...
        for m in range(4):
            assert np.allclose(shift[ids == m], shift[ids == m][0], atol=1e-9)  # ... the same for a whole molecule
            centre = whole[f][ids == m].mean(0) / np.diag(cell)
            assert ((0 <= centre) & (centre < 1)).all()  # its centre inside the box


def test_a_molecule_whose_atoms_are_not_bonded_is_refused_with_the_atoms_named():
    _, wrapped, cells, ids, numbers = _split_box(frames=1)
    ids = ids.copy()
    ids[-1] = ids[0]  # a water H counted as part of benzene
    with pytest.raises(ValueError, match=r"atoms \[.*\] are not bonded to the rest of their molecule"):
        bond_tree_levels(wrapped[0], cells[0], numbers, ids)


def test_a_scene_is_thinned_to_its_byte_budget_or_refused():
    rng = np.random.default_rng(1)
    frames = 200
    view = SceneView("run", ["O", "H", "H"] * 20, [0] * 60, list(np.arange(frames) * 0.1),
                     [np.eye(3).tolist()] * frames, np.round(rng.uniform(0, 10, (frames, 60, 3)), 2).tolist())
    box = SceneView("box", ["O", "H", "H"], [0, 0, 0], [0.0], [np.eye(3).tolist()], [[[0, 0, 0], [1, 0, 0], [0, 1, 0]]])
    scene = Scene(["water"], [box, view])
    size = len(scene.json_text())
    assert scene.fitted(size) is scene
    half = scene.fitted(size // 2)
    assert len(half.json_text()) <= size // 2
    thinned = half.views[1]
    assert half.views[0] == box and thinned.every >= 2 and thinned.n_frames == len(range(0, frames, thinned.every))
    assert thinned.positions_A == view.positions_A[::thinned.every] and thinned.time_ps == view.time_ps[::thinned.every]
    assert scene.fitted(100) is None  # not even one frame of each view fits


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
                           "--enable-unsafe-swiftshader", "--virtual-time-budget=20000", *args],
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def synthetic_project(tmp_path_factory):
    """An analysed project of one synthetic NVT run: 27 B-F 'molecules' written wrapped atom by atom, so that many
    are cut by the boundary, and the run's packed box as the build box."""
    root = tmp_path_factory.mktemp("viewer")
    folder = root / "production" / "nvt" / "a"
    run = synthetic_run(folder, "nvt", 300.0, 2.0, 1, frames=200, wrap=True)  # 12 Å box, 3 x 3 x 3 start grid
    campaign = load_campaign(DEMO)
    campaign = campaign.model_copy(update={"analysis": campaign.analysis.model_copy(update={
        "msd_selections": ["B"], "dihedral_smarts": []})})
    project = Project(root)
    (root / "build").mkdir()
    shutil.copy(folder / "packed.extxyz", project.box_path)
    learning = LearningSummary(history=[], final_model=None, validation=None, test=None, train_frames=0, figures={})
    results = analyze_project(campaign, [(folder, run["record"])], learning, project.analysis_dir, project.box_path)
    return campaign, project, results


def _viewer_state(page_path) -> dict:
    dom = _chromium("--dump-dom", page_path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    tag = re.search(r'<div id="ilflow-viewer"[^>]*>(.*?)</div>', dom.stdout, re.S)
    assert tag, "no viewer element in the page"
    assert "<canvas" in tag.group(1), "3Dmol.js made no canvas in the viewer element"
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', tag.group(0).split(">", 1)[0]))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_report_shows_the_run_in_3d_with_every_molecule_whole(synthetic_project, tmp_path):
    campaign, project, results = synthetic_project
    assert AnalysisResults.load(project.analysis_dir / "results.json").scene == "scene.json"
    scene = Scene.load(project.analysis_dir / "scene.json")
    assert [v.title for v in scene.views] == ["build box", "production nvt/1fu-300K-seed1"]
    assert scene.views[1].n_frames == 200 and scene.views[1].every == 1  # 0.6 MB of scene: far below 20 MB
    # the trajectory cuts molecules (a B-F pair 1.4 Å apart across the boundary is 7.6 Å apart in the file) ...
    with h5py.File(project.root / "production" / "nvt" / "a" / "md" / "trajectory.h5md") as f:
        written = f["particles/trajectory/position/value"][()]
    assert (np.linalg.norm(written[:, :27] - written[:, 27:], axis=-1) > 4.5).sum() > 100
    x = np.asarray(scene.views[1].positions_A)  # ... the scene does not
    assert np.linalg.norm(x[:, :27] - x[:, 27:], axis=-1) == pytest.approx(1.4, abs=0.01)  # whole in the scene
    path, _ = write_report(campaign, project, tmp_path / "report")
    state = _viewer_state(path)
    # what 3Dmol.js drew from its own bond perception: 54 atoms, 27 bonds, 27 molecules (a cut one would count 2)
    assert state == {"ready": "1", "view": "production nvt/1fu-300K-seed1", "frame": "0", "frames": "200",
                     "atoms": "54", "bonds": "27", "molecules": "27"}
    shot = tmp_path / "shot.png"
    assert _chromium("--window-size=1100,1300", f"--screenshot={shot}", path.as_uri()).returncode == 0
    from matplotlib.image import imread

    pixels = imread(shot)[600:1100, 50:1050, :3]  # inside the viewer's canvas
    assert (pixels.std(axis=(0, 1)) > 0.05).any()  # atoms drawn on the white background, not a blank canvas
    # without JavaScript (headless Chromium prints nothing with scripting switched off, so a copy of the page whose
    # Content-Security-Policy blocks every script stands in): no canvas, every section and table still there, and
    # the note a browser without JavaScript shows in place of the view
    blocked = tmp_path / "blocked.html"
    blocked.write_text(path.read_text().replace(
        "<head>", "<head><meta http-equiv='Content-Security-Policy' content=\"script-src 'none'\">", 1))
    still = _chromium("--dump-dom", blocked.as_uri()).stdout
    assert "<canvas" not in still and 'data-ready' not in still
    assert "The 3D view needs JavaScript; the rest of this report does not." in still
    for section in ("Density", "Self-diffusion", "Ionic conductivity", "Shear viscosity", "Campaign file"):
        assert f"<h2>{section}</h2>" in still
    assert still.count("<table") == path.read_text().count("<table") > 3


def _report(campaign, project, out, limit_MB: float) -> tuple[str, Scene | None]:
    """report.html with analysis.viewer_max_MB = limit_MB: its text and the scene it embeds."""
    limited = campaign.model_copy(update={"analysis": campaign.analysis.model_copy(update={"viewer_max_MB": limit_MB})})
    path, _ = write_report(limited, project, out)
    page = path.read_text()
    assert len(page.encode()) <= limit_MB * 1e6
    embedded = re.search(r"<script type='application/json' id='ilflow-scene'>(.*?)</script>", page)
    return page, None if embedded is None else Scene.from_dict(json.loads(embedded.group(1)))


def test_the_report_stays_below_its_size_limit_by_thinning_or_leaving_out_the_view(synthetic_project, tmp_path):
    campaign, project, _ = synthetic_project
    page, scene = _report(campaign, project, tmp_path / "full", 20.0)
    assert scene.views[1].every == 1
    full_MB, scene_MB = len(page.encode()) / 1e6, len(scene.json_text()) / 1e6
    # room for half the scene: every 2nd frame or fewer
    page, scene = _report(campaign, project, tmp_path / "half", full_MB - scene_MB / 2)
    every = scene.views[1].every
    assert every >= 2 and scene.views[1].n_frames == len(range(0, 200, every))
    assert f"one frame in {every} of those written" in page
    # no room for the viewer's script (0.55 MB): no view, and the page says why
    page, scene = _report(campaign, project, tmp_path / "none", full_MB - scene_MB - 0.3)
    assert scene is None and "No 3D view: it needs more than" in page and "analysis.viewer_max_MB" in page
