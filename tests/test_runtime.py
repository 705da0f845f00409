"""Importing ilflow changes no global JAX setting; a command, `ilflow.configure_jax()` or a library entry point does.

Each check runs in a fresh interpreter: this test session itself is configured by conftest."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

IMPORT_ALL = "import ilflow, ilflow.potentials, ilflow.md, ilflow.training, ilflow.active, ilflow.analysis, ilflow.workflow"
REPORT = """
import json, jax
print(json.dumps({name: getattr(jax.config, name) for name in
                  ("jax_enable_x64", "jax_compilation_cache_dir", "jax_compilation_cache_max_size",
                   "jax_default_matmul_precision")} | extra))
"""


def _run(code: str, cache) -> dict:
    """Run `code` (which fills the dict `extra`) in a fresh interpreter; the JAX settings it ends with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env["ILFLOW_JAX_CACHE"] = str(cache)
    env["JAX_PLATFORMS"] = "cpu"
    script = "extra = {}\n" + textwrap.dedent(code) + REPORT
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_changes_nothing_and_configure_jax_sets_both(tmp_path):
    cache = tmp_path / "jax-cache"
    out = _run(f"""
        import sys
        import ilflow
        extra["jax_imported_by_ilflow"] = "jax" in sys.modules
        {IMPORT_ALL}
        import jax
        extra["x64_after_import"] = jax.config.jax_enable_x64
        extra["cache_after_import"] = jax.config.jax_compilation_cache_dir
        ilflow.configure_jax()
        ilflow.configure_jax()  # idempotent
        """, cache)
    assert out["jax_imported_by_ilflow"] is False
    assert out["x64_after_import"] is False
    assert out["cache_after_import"] is None
    assert out["jax_enable_x64"] is True
    assert out["jax_compilation_cache_dir"] == str(cache)
    assert out["jax_compilation_cache_max_size"] == 2 * 1024**3
    assert out["jax_default_matmul_precision"] == "highest"  # no TF32 float32 products on GPUs


def test_cache_off_and_a_folder_set_for_jax_are_respected(tmp_path):
    off = _run("import ilflow; ilflow.configure_jax()", "off")
    assert off["jax_enable_x64"] is True and off["jax_compilation_cache_dir"] is None
    mine = tmp_path / "mine"
    kept = _run(f"""
        import jax, ilflow
        jax.config.update("jax_compilation_cache_dir", {str(mine)!r})
        ilflow.configure_jax()
        """, tmp_path / "ilflow-cache")
    assert kept["jax_compilation_cache_dir"] == str(mine)
    explicit = _run(f"import ilflow; ilflow.configure_jax(cache={str(tmp_path / 'explicit')!r})", "off")
    assert explicit["jax_compilation_cache_dir"] == str(tmp_path / "explicit")


def test_matmul_precision_from_the_environment_or_the_call(tmp_path):
    """ILFLOW_MATMUL_PRECISION=default gives JAX its own choice back (TF32 on NVIDIA GPUs); the call wins."""
    jax_choice = _run("import os; os.environ['ILFLOW_MATMUL_PRECISION'] = 'default'; import ilflow; "
                      "ilflow.configure_jax()", "off")
    assert jax_choice["jax_default_matmul_precision"] is None
    asked = _run("import ilflow; ilflow.configure_jax(matmul_precision='tensorfloat32')", "off")
    assert asked["jax_default_matmul_precision"] == "tensorfloat32"


def test_make_system_alone_turns_float64_on(tmp_path):
    out = _run(f"""
        {IMPORT_ALL}
        from ase.build import molecule
        from ilflow.potentials import make_system
        system = make_system(molecule("CH4"), (1, 6))
        extra["positions_dtype"] = str(system.positions.dtype)
        """, tmp_path / "cache")
    assert out["jax_enable_x64"] is True
    assert out["positions_dtype"] == "float64"


def test_configure_jax_x64_false_is_not_overridden_by_entry_points(tmp_path):
    out = _run("""
        import ilflow
        ilflow.configure_jax(x64=False)
        from ase.build import molecule
        from ilflow.potentials import make_system
        extra["positions_dtype"] = str(make_system(molecule("CH4"), (1, 6)).positions.dtype)
        """, "off")
    assert out["jax_enable_x64"] is False
    assert out["positions_dtype"] == "float32"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small random model directory, written by this (configured) process."""
    import jax

    from ilflow.potentials import GMNNConfig, init_params, save_model

    config = GMNNConfig(elements=(1, 6), hidden=(8,))
    members = [init_params(config, jax.random.PRNGKey(k)) for k in range(2)]
    params = jax.tree.map(lambda *x: jax.numpy.stack(x), *members)
    return save_model(tmp_path_factory.mktemp("model") / "model", config, params)


def test_calculator_alone_turns_float64_on(tmp_path, model_dir):
    out = _run(f"""
        import jax
        from ase.build import molecule
        from ilflow.potentials import Calculator
        extra["x64_before"] = jax.config.jax_enable_x64
        atoms = molecule("CH4")
        atoms.calc = Calculator({str(model_dir)!r})
        extra["energy"] = atoms.get_potential_energy()
        extra["scale_dtype"] = str(atoms.calc.params["scale"].dtype)
        """, tmp_path / "cache")
    assert out["x64_before"] is False
    assert out["jax_enable_x64"] is True
    assert out["jax_compilation_cache_dir"] == str(tmp_path / "cache")
    assert out["scale_dtype"] == "float64"
