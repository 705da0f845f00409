// ilflow's 3D view of a campaign: the scene JSON (ilflow/analysis/scene.py) drawn with 3Dmol.js.
// Views: the build box and a thinned production trajectory; play/pause, a frame slider, colour by element or
// species. The element #ilflow-viewer gets data-* attributes that say what was drawn (atoms, bonds, molecules),
// so that a headless browser can check the page.
(function () {
  "use strict";
  const scene = JSON.parse(document.getElementById("ilflow-scene").textContent);
  const element = document.getElementById("ilflow-viewer");
  const status = document.getElementById("ilflow-viewer-status");
  const viewSelect = document.getElementById("ilflow-viewer-view");
  const colourSelect = document.getElementById("ilflow-viewer-colour");
  const slider = document.getElementById("ilflow-viewer-frame");
  const play = document.getElementById("ilflow-viewer-play");
  const legend = document.getElementById("ilflow-viewer-legend");
  // distinguishable colours for species (Okabe-Ito), cycled for more species
  const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];
  const viewer = $3Dmol.createViewer(element, {backgroundColor: "white"});
  let view = scene.views[0];
  let frame = 0;
  let timer = null;

  function xyz(v, f) {
    const lines = [String(v.symbols.length), v.title];
    const x = v.positions_A[f];
    for (let i = 0; i < v.symbols.length; i++) {
      lines.push(v.symbols[i] + " " + x[i][0] + " " + x[i][1] + " " + x[i][2]);
    }
    return lines.join("\n");
  }

  function style() {
    if (colourSelect.value === "species") {
      const colour = (atom) => PALETTE[view.species[atom.index] % PALETTE.length];
      return {stick: {radius: 0.12, colorfunc: colour}, sphere: {scale: 0.22, colorfunc: colour}};
    }
    return {stick: {radius: 0.12, colorscheme: "Jmol"}, sphere: {scale: 0.22, colorscheme: "Jmol"}};
  }

  function drawBox(cell) {
    const corner = (i, j, k) => ({
      x: i * cell[0][0] + j * cell[1][0] + k * cell[2][0],
      y: i * cell[0][1] + j * cell[1][1] + k * cell[2][1],
      z: i * cell[0][2] + j * cell[1][2] + k * cell[2][2],
    });
    for (let n = 0; n < 8; n++) {
      const a = [n & 1, (n >> 1) & 1, (n >> 2) & 1];
      for (let axis = 0; axis < 3; axis++) {
        if (a[axis] === 0) {
          const b = a.slice();
          b[axis] = 1;
          viewer.addLine({start: corner(...a), end: corner(...b), color: "#555555"});
        }
      }
    }
  }

  function molecules(atoms) {
    // connected components of the bonds 3Dmol drew: whole molecules give the box's molecule count
    const seen = new Array(atoms.length).fill(false);
    let count = 0;
    for (let s = 0; s < atoms.length; s++) {
      if (seen[s]) continue;
      count++;
      const stack = [s];
      seen[s] = true;
      while (stack.length) {
        for (const b of atoms[stack.pop()].bonds) {
          if (!seen[b]) { seen[b] = true; stack.push(b); }
        }
      }
    }
    return count;
  }

  function show(f, zoom) {
    frame = f;
    viewer.removeAllModels();
    viewer.removeAllShapes();
    const model = viewer.addModel(xyz(view, f), "xyz");
    viewer.setStyle({}, style());
    drawBox(view.cells_A[f]);
    if (zoom) viewer.zoomTo();
    viewer.render();
    const atoms = model.selectedAtoms({});
    const bonds = atoms.reduce((n, a) => n + a.bonds.length, 0) / 2;
    slider.value = f;
    const thinned = view.every > 1 ? " (one in " + view.every + " of the frames written)" : "";
    status.textContent = view.title + ": frame " + (f + 1) + " of " + view.time_ps.length + thinned + ", t = " +
      view.time_ps[f].toFixed(2) + " ps, " + atoms.length + " atoms";
    Object.assign(element.dataset, {
      ready: "1", view: view.title, frame: String(f), frames: String(view.time_ps.length),
      atoms: String(atoms.length), bonds: String(bonds), molecules: String(molecules(atoms)),
    });
  }

  function select(index) {
    view = scene.views[index];
    viewSelect.value = String(index);
    slider.max = view.time_ps.length - 1;
    play.disabled = view.time_ps.length < 2;
    stop();
    show(0, true);
  }

  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    play.textContent = "play";
  }

  scene.views.forEach((v, i) => viewSelect.add(
    new Option(v.title + " (" + v.time_ps.length + (v.time_ps.length === 1 ? " frame)" : " frames)"), i)));
  scene.species_names.forEach((name, i) => {
    const swatch = document.createElement("span");
    swatch.style.cssText = "display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 .8em;background:" +
      PALETTE[i % PALETTE.length];
    legend.append(swatch, name);
  });
  viewSelect.addEventListener("change", () => select(Number(viewSelect.value)));
  colourSelect.addEventListener("change", () => show(frame, false));
  slider.addEventListener("input", () => { stop(); show(Number(slider.value), false); });
  play.addEventListener("click", () => {
    if (timer !== null) { stop(); return; }
    play.textContent = "pause";
    timer = setInterval(() => show((frame + 1) % view.time_ps.length, false), 100);
  });
  select(scene.views.length - 1);  // the production run when there is one
})();
