/* OCR workbench page: one tab per served task, built from the TASKS registry at the bottom.
 *
 * Adding a task is one entry in TASKS: {id, title, blurb, mount(panel, kit)}. `mount` fills the
 * tab's panel from the shared parts in `kit` (drawing pad, upload box, image view with an
 * overlay of boxes/polygons, result card, postImage); errors, the busy state and stale answers
 * are handled once, in `kit.asker`. Plain browser JavaScript: no build step, nothing loaded
 * from the internet.
 */
"use strict";

(() => {
  // The server's default body limit (create_app(max_upload_bytes=16 MiB)). Checked here too so a
  // huge photo is refused at once instead of after a long upload that the server then drops.
  const MAX_UPLOAD_BYTES = 16 * 1024 * 1024;
  const FORMATS = "PNG, JPEG, BMP, TIFF or WebP";

  // ---- DOM helpers ----------------------------------------------------------------------------
  /** h("div", {class: "x", onclick: fn}, child, ...) -> element; null/false children are skipped. */
  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    node.append(...children.flat().filter((c) => c != null && c !== false));
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function s(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    node.append(...children);
    return node;
  }

  const pct = (p) => (p >= 0.001 ? `${(p * 100).toFixed(1)}%` : "<0.1%");

  // ---- API ------------------------------------------------------------------------------------
  class ApiError extends Error {
    /** status 0 means the request never got an HTTP answer. */
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** POST one image to /predict/<task>; resolves to the JSON body, rejects with ApiError. */
  async function postImage(task, blob, params = {}, { filename = "image.png", signal } = {}) {
    const form = new FormData();
    form.append("image", blob, filename);
    const query = new URLSearchParams(params).toString();
    const url = `/predict/${encodeURIComponent(task)}${query ? `?${query}` : ""}`;
    let resp;
    try {
      resp = await fetch(url, { method: "POST", body: form, signal });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", String(err.message || err));
    }
    let body = null;
    try {
      body = await resp.json();
    } catch {
      // Not JSON: a proxy's error page or a dropped connection. Handled below.
    }
    if (!resp.ok) {
      const e = (body && body.error) || {};
      throw new ApiError(resp.status, e.code || `http_${resp.status}`, e.message || resp.statusText);
    }
    if (!body) throw new ApiError(resp.status, "bad_response", "the answer was not JSON");
    return body;
  }

  /** "upload too large; the limit is 16,777,216 bytes" -> "16 MB". */
  function limitText(message) {
    const m = /([\d,]+)\s*bytes/.exec(message || "");
    const bytes = m ? Number(m[1].replace(/,/g, "")) : MAX_UPLOAD_BYTES;
    return `${Math.round(bytes / 2 ** 20)} MB`;
  }

  /** What a person should read for an ApiError (the server's own message goes in the details). */
  function humanMessage(err) {
    switch (err.status) {
      case 0:
        return "Could not reach the server. Check that it is running, then try again.";
      case 400:
        if (err.code === "too_small") return "The image is too small to read (it needs at least 8 pixels a side).";
        if (err.code === "too_many_pixels") return "The image has too many pixels. Try a smaller photo.";
        if (err.code === "missing_image") return "No image was sent. Draw something or choose a file.";
        return `That file is not an image, or it is damaged. Try a ${FORMATS} file.`;
      case 404:
        return "The server does not know this task.";
      case 413:
        if (err.code === "too_many_files") return "Too many files in one request.";
        return `The file is too large (limit ${limitText(err.message)}).`;
      case 415:
        return `That file is not an image. Try a ${FORMATS} file.`;
      case 503:
        return "The model for this task is not loaded yet.";
      default:
        return `The server could not answer (error ${err.status}). Try again in a moment.`;
    }
  }

  // ---- Result card: answer area, busy indicator, error area -------------------------------------
  function resultCard(id, heading = "Answer") {
    const body = h("div", { class: "result-body", id: `${id}-result` },
      h("p", { class: "placeholder" }, "The answer appears here."));
    const busy = h("p", { class: "busy", hidden: true }, h("span", { class: "spinner", "aria-hidden": "true" }), "Reading…");
    const error = h("div", { class: "error", id: `${id}-error`, role: "alert" });
    const region = h("div", { class: "result-live", "aria-live": "polite", "aria-busy": "false" }, busy, body);
    const element = h("section", { class: "card result-card", "aria-labelledby": `${id}-result-h` },
      h("h3", { id: `${id}-result-h` }, heading), error, region);
    return {
      element,
      body,
      setBusy(on) {
        region.setAttribute("aria-busy", String(on));
        busy.hidden = !on;
      },
      showError(err) {
        const details = err.message && err.status !== 0 ? h("span", { class: "error-details" }, `Server said: ${err.message}`) : null;
        error.replaceChildren(h("strong", {}, humanMessage(err)), details);
        error.classList.add("shown");
      },
      clearError() {
        error.replaceChildren();
        error.classList.remove("shown");
      },
      reset() {
        this.clearError();
        body.replaceChildren(h("p", { class: "placeholder" }, "The answer appears here."));
      },
    };
  }

  /** ask(blob, filename, source, params): post to `task`, show busy/errors in `card`, then render.
   * A newer request cancels the one in flight, so a quick second stroke never shows an old answer. */
  function asker(task, card, render) {
    let inFlight = null;
    return async (blob, filename, source, params = {}) => {
      if (inFlight) inFlight.abort();
      const ctrl = new AbortController();
      inFlight = ctrl;
      card.clearError();
      card.setBusy(true);
      try {
        const answer = await postImage(task, blob, params, { filename, signal: ctrl.signal });
        render(answer, card.body, source);
      } catch (err) {
        if (err.name === "AbortError") return;
        if (!(err instanceof ApiError)) console.error(err); // a bug in a renderer, not a server error
        card.reset(); // an earlier answer would look like the answer to this image
        card.showError(err instanceof ApiError ? err : new ApiError(-1, "client", String(err)));
      } finally {
        if (inFlight === ctrl) {
          inFlight = null;
          card.setBusy(false);
        }
      }
    };
  }

  // ---- Drawing pad: white paper, black ink, mouse / pen / touch through Pointer Events ----------
  function drawingPad({ id, label, size = 280, penWidth = 18, onRelease, onClear }) {
    const canvas = h("canvas", { id: `${id}-canvas`, class: "pad", width: size, height: size, role: "img", "aria-label": label });
    const ctx = canvas.getContext("2d");
    const slider = h("input", { type: "range", id: `${id}-pen`, min: 4, max: 40, step: 1, value: penWidth });
    const sliderValue = h("output", { for: `${id}-pen` }, `${penWidth}px`);
    const clearBtn = h("button", { type: "button", class: "btn", id: `${id}-clear` }, "Clear");
    let pointer = null; // id of the pointer drawing now; others (a second finger) are ignored
    let last = null;
    let inked = false;

    function clear() {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, size, size);
      inked = false;
    }
    function at(ev) {
      // The canvas is scaled by CSS; map client pixels to the canvas' own pixels.
      const r = canvas.getBoundingClientRect();
      return [((ev.clientX - r.left) * size) / r.width, ((ev.clientY - r.top) * size) / r.height];
    }
    function stroke(from, to) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = Number(slider.value);
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(...from);
      ctx.lineTo(...to);
      ctx.stroke();
      inked = true;
    }

    canvas.addEventListener("pointerdown", (ev) => {
      if (pointer !== null || ev.button !== 0) return;
      ev.preventDefault();
      pointer = ev.pointerId;
      canvas.setPointerCapture(ev.pointerId);
      last = at(ev);
      stroke(last, last); // a tap leaves a dot
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (ev.pointerId !== pointer) return;
      // Coalesced events keep fast strokes smooth where the browser batches moves per frame.
      const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
      for (const e of events.length ? events : [ev]) {
        const p = at(e);
        stroke(last, p);
        last = p;
      }
    });
    const end = (ev) => {
      if (ev.pointerId !== pointer) return;
      pointer = null;
      if (ev.type === "pointerup" && inked) onRelease();
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    slider.addEventListener("input", () => {
      sliderValue.textContent = `${slider.value}px`;
    });
    clearBtn.addEventListener("click", () => {
      clear();
      if (onClear) onClear();
    });
    clear();

    const element = h("div", { class: "pad-wrap" },
      canvas,
      h("div", { class: "pad-controls" },
        clearBtn,
        h("label", { class: "pen", for: `${id}-pen` }, "Pen width"),
        slider,
        sliderValue));
    return {
      element,
      canvas,
      clear,
      toBlob: () => new Promise((resolve) => canvas.toBlob(resolve, "image/png")),
    };
  }

  // ---- Upload box: file input + drag-and-drop --------------------------------------------------
  function uploadBox({ id, what, onFile, onReject }) {
    const input = h("input", { type: "file", id: `${id}-file`, class: "visually-hidden", accept: "image/*" });
    const zone = h("label", { class: "dropzone", for: `${id}-file` },
      s("svg", { class: "dropzone-icon", viewBox: "0 0 24 24", "aria-hidden": "true" },
        s("path", { d: "M12 15V4m0 0L7.5 8.5M12 4l4.5 4.5M4 14v4a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-4" })),
      h("span", {}, h("span", { class: "link" }, "Choose a photo"), ` of ${what} or drop it here`),
      h("span", { class: "hint" }, `${FORMATS}, up to ${limitText("")}`));

    function take(file) {
      if (!file) return;
      if (file.size > MAX_UPLOAD_BYTES) {
        onReject(new ApiError(413, "too_large", `${file.size} bytes; the limit is ${MAX_UPLOAD_BYTES} bytes`));
        return;
      }
      onFile(file);
    }
    input.addEventListener("change", () => {
      take(input.files[0]);
      input.value = ""; // choosing the same file again still fires "change"
    });
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (ev) => {
        ev.preventDefault();
        zone.classList.add("dragging");
      });
    }
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("dragging");
      take(ev.dataTransfer.files[0]);
    });
    return { element: h("div", { class: "upload" }, input, zone), input };
  }

  // ---- Image view with an overlay of boxes and polygons ----------------------------------------
  /** An <img> with an SVG on top whose viewBox is the image's own pixel grid, so shapes use the
   * API's coordinates (pixels of the uploaded image, after EXIF rotation, which <img> applies too)
   * and stay aligned at any displayed size. */
  function imageView({ id, alt }) {
    const img = h("img", { id: `${id}-preview`, alt });
    const svg = s("svg", { class: "overlay", "aria-hidden": "true" });
    const element = h("figure", { class: "image-view", hidden: true }, h("div", { class: "overlay-wrap" }, img, svg));
    let url = null;
    return {
      element,
      img,
      svg,
      /** Show a File/Blob; resolves once its size is known (or rejects if the browser can't show it). */
      show(blob) {
        if (url) URL.revokeObjectURL(url);
        url = URL.createObjectURL(blob);
        svg.replaceChildren();
        element.hidden = false;
        img.src = url;
        return img.decode().catch((err) => {
          element.hidden = true; // e.g. a TIFF: the server reads it, most browsers cannot show it
          throw err;
        });
      },
      /** shapes: [{box: [x0, y0, x1, y1]} or {points: [[x, y], ...]}, with an optional label]. */
      overlay(shapes) {
        drawOverlay(svg, img.naturalWidth, img.naturalHeight, shapes);
      },
    };
  }

  function drawOverlay(svg, width, height, shapes) {
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const font = Math.max(10, Math.round(Math.max(width, height) / 40));
    svg.replaceChildren(
      ...shapes.map((shape) => {
        const pts = shape.points || boxPoints(shape.box);
        const g = s("g", { class: "shape" }, s("polygon", { points: pts.map((p) => p.join(",")).join(" ") }));
        if (shape.label) {
          const [x, y] = pts.reduce((a, b) => (b[1] < a[1] || (b[1] === a[1] && b[0] < a[0]) ? b : a));
          g.append(s("text", { x, y: Math.max(font, y - font / 4), "font-size": font }, shape.label));
        }
        return g;
      }),
    );
  }

  const boxPoints = ([x0, y0, x1, y1]) => [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];

  // ---- Renderers -------------------------------------------------------------------------------
  function modelNote(model) {
    if (!model) return null;
    const arch = model.architecture ? ` (${model.architecture})` : "";
    return h("p", { class: "model-note" }, `Model: ${model.name}${arch}`);
  }

  /** digit / letter: {label, confidence, top: [{label, p}]} -> big label + top-k bars. */
  function renderChar(answer, body, source) {
    const r = answer.results[0];
    const bars = r.top.map((t) =>
      h("li", {},
        h("span", { class: "top-label" }, t.label),
        h("span", { class: "bar", "aria-hidden": "true" }, h("span", { class: "bar-fill", style: `width: ${(t.p * 100).toFixed(1)}%` })),
        h("span", { class: "top-p" }, pct(t.p))));
    body.replaceChildren(
      h("p", { class: "source" }, `From ${source}`),
      h("p", { class: "answer" },
        h("span", { class: "answer-label" }, r.label),
        h("span", { class: "answer-confidence" }, `${pct(r.confidence)} sure`)),
      h("h4", { class: "top-heading" }, `Top ${r.top.length}`),
      h("ol", { class: "top" }, bars),
      modelNote(answer.model));
  }

  // ---- The shared parts a task's mount() uses --------------------------------------------------
  const kit = { h, postImage, humanMessage, ApiError, resultCard, asker, drawingPad, uploadBox, imageView, drawOverlay };

  function card(title, ...children) {
    return h("section", { class: "card" }, h("h3", {}, title), ...children);
  }

  /** digit and letter: draw or upload one character. */
  function charTask({ id, title, what }) {
    return {
      id,
      title,
      blurb: `Draw ${what} in the box, or upload a photo of one. Dark ink on light paper or light on dark both work.`,
      mount(panel) {
        const result = kit.resultCard(id);
        const ask = kit.asker(id, result, renderChar);
        const pad = kit.drawingPad({
          id,
          label: `Drawing area: draw ${what} with a mouse, pen or finger`,
          onRelease: async () => ask(await pad.toBlob(), "drawing.png", "your drawing"),
          onClear: () => result.reset(),
        });
        const view = kit.imageView({ id, alt: `The uploaded photo of ${what}` });
        const upload = kit.uploadBox({
          id,
          what,
          onFile: (file) => {
            view.show(file).catch(() => {}); // no preview is fine; the server still reads it
            ask(file, file.name, file.name);
          },
          onReject: (err) => result.showError(err),
        });
        panel.append(
          h("div", { class: "workbench" },
            card("Draw", pad.element),
            card("Upload", upload.element, view.element),
            result.element));
      },
    };
  }

  // One entry per served task. A new task is one more entry whose mount() composes the kit, e.g.
  // word: a pad and an upload, then view.overlay(result.words.map((w) => ({box: w.box, label: w.text}))).
  const TASKS = [
    charTask({ id: "digit", title: "Digit", what: "a digit (0–9)" }),
    charTask({ id: "letter", title: "Letter", what: "a letter (a–z)" }),
  ];

  // ---- Tabs ------------------------------------------------------------------------------------
  const tablist = document.getElementById("tabs");
  const panels = document.getElementById("panels");
  const tabs = [];

  function select(index, focus = false) {
    tabs.forEach(({ button, panel, task }, i) => {
      const on = i === index;
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      panel.hidden = !on;
      if (on) {
        if (focus) button.focus();
        history.replaceState(null, "", `#${task.id}`);
      }
    });
  }

  for (const task of TASKS) {
    const button = h("button", {
      type: "button", role: "tab", id: `tab-${task.id}`, class: "tab", "aria-controls": `${task.id}-panel`,
      "aria-selected": "false", tabindex: -1,
    }, h("span", {}, task.title), h("span", { class: "tab-badge", hidden: true }, "not loaded"));
    const notice = h("p", { class: "banner banner-warn", id: `${task.id}-notice`, hidden: true });
    const panel = h("section", {
      class: "panel", role: "tabpanel", id: `${task.id}-panel`, "aria-labelledby": `tab-${task.id}`, hidden: true,
    }, h("p", { class: "blurb" }, task.blurb), notice);
    task.mount(panel, kit);
    tabs.push({ task, button, panel, notice });
    tablist.append(button);
    panels.append(panel);
    button.addEventListener("click", () => select(tabs.findIndex((t) => t.task === task)));
  }

  tablist.addEventListener("keydown", (ev) => {
    const current = tabs.findIndex((t) => t.button.getAttribute("aria-selected") === "true");
    const n = tabs.length;
    const next = { ArrowRight: current + 1, ArrowLeft: current - 1 + n, Home: 0, End: n - 1 }[ev.key];
    if (next === undefined) return;
    ev.preventDefault();
    select(next % n, true);
  });

  const fromHash = tabs.findIndex((t) => `#${t.task.id}` === location.hash);
  select(Math.max(0, fromHash));

  // ---- Which models are loaded ------------------------------------------------------------------
  async function checkHealth() {
    const banner = document.getElementById("server-status");
    let health;
    try {
      const resp = await fetch("/health");
      health = await resp.json();
    } catch {
      banner.textContent = "Could not reach the server's /health check; answers may fail.";
      banner.className = "banner banner-warn";
      banner.hidden = false;
      return;
    }
    for (const { task, button, notice } of tabs) {
      const state = (health.tasks || {})[task.id];
      const ready = Boolean(state && state.ready);
      button.dataset.ready = String(ready);
      button.querySelector(".tab-badge").hidden = ready;
      notice.hidden = ready;
      if (!ready) {
        const why = state && state.reason ? ` Server said: ${state.reason}` : "";
        notice.replaceChildren(h("strong", {}, "The model for this task is not loaded yet."), why);
      }
    }
    document.body.dataset.health = "checked"; // lets tests wait for this step
  }
  checkHealth();
})();
