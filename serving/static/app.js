/* OCR workbench page: one tab per served task, built from the TASKS registry at the bottom.
 *
 * Adding a task is one entry in TASKS: {id, title, blurb, mount(panel, kit)}. `mount` fills the
 * tab's panel from the shared parts in `kit` (drawing pad, upload box, image view with an
 * overlay of boxes/polygons, corner editor, result card, postImage, postScan); errors, the busy
 * state and stale answers are handled once, in `kit.asker` (the Document tab, which answers
 * images rather than JSON, does the same for its scans). Plain browser JavaScript: no build step, nothing loaded
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

  /** POST `form` to `url`; resolves to the Response when it is a 2xx, else rejects with ApiError. */
  async function send(url, form, signal) {
    let resp;
    try {
      resp = await fetch(url, { method: "POST", body: form, signal });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", String(err.message || err));
    }
    if (resp.ok) return resp;
    let body = null;
    try {
      body = await resp.json();
    } catch {
      // Not JSON: a proxy's error page or a dropped connection. Handled below.
    }
    const e = (body && body.error) || {};
    throw new ApiError(resp.status, e.code || `http_${resp.status}`, e.message || resp.statusText);
  }

  function withQuery(path, params) {
    const query = new URLSearchParams(params).toString();
    return query ? `${path}?${query}` : path;
  }

  /** POST one image to /predict/<task>; resolves to the JSON body, rejects with ApiError. */
  async function postImage(task, blob, params = {}, { filename = "image.png", signal } = {}) {
    const form = new FormData();
    form.append("image", blob, filename);
    const resp = await send(withQuery(`/predict/${encodeURIComponent(task)}`, params), form, signal);
    try {
      return await resp.json();
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(resp.status, "bad_response", "the answer was not JSON");
    }
  }

  /** POST one photo to /scan; resolves to {blob, found, corners}: the page file, whether a page was
   * flattened, and the corners the server used (null when none). Rejects with ApiError. */
  async function postScan(blob, { corners = null, enhance = false, format = "jpeg", filename = "photo.png", signal } = {}) {
    const form = new FormData();
    form.append("image", blob, filename);
    if (corners) form.append("corners", JSON.stringify(corners));
    const resp = await send(withQuery("/scan", { format, enhance: enhance ? 1 : 0 }), form, signal);
    let used = null;
    try {
      used = JSON.parse(resp.headers.get("X-Corners") || "null");
    } catch {
      // An odd header only loses the echo, not the page.
    }
    return { blob: await resp.blob(), found: resp.headers.get("X-Page-Found") === "true", corners: used };
  }

  /** Anything a request chain threw -> an ApiError to show; a non-ApiError is a bug here, so log it. */
  function toApiError(err) {
    if (err instanceof ApiError) return err;
    console.error(err);
    return new ApiError(-1, "client", String(err));
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
        if (err.code === "bad_corners") return "Those corners do not outline a page. Move them apart so they make a four-sided shape around it.";
        return `That file is not an image, or it is damaged. Try a ${FORMATS} file.`;
      case 404:
        return "The server does not know this task.";
      case 413:
        if (err.code === "too_many_files") return "Too many files in one request.";
        return `The file is too large (limit ${limitText(err.message)}).`;
      case 415:
        return `That file is not an image. Try a ${FORMATS} file.`;
      case 503:
        // The Chinese task serves without its line detector; only finding lines needs it.
        if (/text-line detector/.test(err.message || "")) {
          return "The server has no text-line detector, so it cannot find the lines. Turn off “Detect lines” to read the image as one line.";
        }
        return "The model for this task is not loaded yet.";
      default:
        return `The server could not answer (error ${err.status}). Try again in a moment.`;
    }
  }

  // ---- Result card: answer area, busy indicator, error area -------------------------------------
  function resultCard(id, heading = "Answer", { busyText = "Reading…", placeholder = "The answer appears here." } = {}) {
    const body = h("div", { class: "result-body", id: `${id}-result` }, h("p", { class: "placeholder" }, placeholder));
    const busy = h("p", { class: "busy", hidden: true }, h("span", { class: "spinner", "aria-hidden": "true" }), busyText);
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
        body.replaceChildren(h("p", { class: "placeholder" }, placeholder));
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
        card.reset(); // an earlier answer would look like the answer to this image
        card.showError(toApiError(err));
      } finally {
        if (inFlight === ctrl) {
          inFlight = null;
          card.setBusy(false);
        }
      }
    };
  }

  // ---- Drawing pad: white paper, black ink, mouse / pen / touch through Pointer Events ----------
  /** A square pad of `size` canvas pixels, or `width` x `height` (shown at that aspect ratio, as wide
   * as its card). `onStart` runs when a stroke begins, `onRelease` when one ends; `actions` are extra
   * buttons shown beside Clear. */
  function drawingPad({ id, label, size = 280, width = size, height = size, penWidth = 18, onStart, onRelease, onClear, actions = [] }) {
    const canvas = h("canvas", {
      id: `${id}-canvas`, class: width === height ? "pad" : "pad pad-wide", width, height, role: "img", "aria-label": label,
      style: width === height ? null : `aspect-ratio: ${width} / ${height}`,
    });
    const ctx = canvas.getContext("2d");
    const slider = h("input", { type: "range", id: `${id}-pen`, min: 4, max: 40, step: 1, value: penWidth });
    const sliderValue = h("output", { for: `${id}-pen` }, `${penWidth}px`);
    const clearBtn = h("button", { type: "button", class: "btn", id: `${id}-clear` }, "Clear");
    let pointer = null; // id of the pointer drawing now; others (a second finger) are ignored
    let last = null;
    let inked = false;

    function clear() {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, width, height);
      inked = false;
    }
    function at(ev) {
      // The canvas is scaled by CSS; map client pixels to the canvas' own pixels.
      const r = canvas.getBoundingClientRect();
      return [((ev.clientX - r.left) * width) / r.width, ((ev.clientY - r.top) * height) / r.height];
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
      if (onStart) onStart();
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
        ...actions,
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

  // ---- Corner editor: a photo on a canvas, a page outline and four draggable corners -------------
  const CORNER_NAMES = ["Top-left", "Top-right", "Bottom-right", "Bottom-left"];
  // Room around the photo, as a fraction of its longer side: a page's corner may lie just outside
  // the frame, and a handle there must still be visible and reachable.
  const EDITOR_MARGIN = 0.06;

  /** Four [x, y] points -> top-left, top-right, bottom-right, bottom-left: clockwise on screen around
   * their centre, starting from the smallest x + y. The server sorts /scan's corners the same way. */
  function orderCorners(points) {
    const cx = points.reduce((a, p) => a + p[0], 0) / points.length;
    const cy = points.reduce((a, p) => a + p[1], 0) / points.length;
    const angle = (p) => Math.atan2(p[1] - cy, p[0] - cx);
    const sorted = points.slice().sort((a, b) => angle(a) - angle(b));
    let start = 0;
    sorted.forEach((p, i) => {
      if (p[0] + p[1] < sorted[start][0] + sorted[start][1]) start = i;
    });
    return [...sorted.slice(start), ...sorted.slice(0, start)];
  }

  /** Whether an ordered quad turns the same way at every corner (no dent, no three in a line). */
  function isConvex(quad) {
    return quad.every((p, i) => {
      const q = quad[(i + 1) % 4];
      const r = quad[(i + 2) % 4];
      return (q[0] - p[0]) * (r[1] - q[1]) - (q[1] - p[1]) * (r[0] - q[0]) > 0;
    });
  }

  /** A rectangle inset `inset` of the size from each border: where the corners start when no page is found. */
  const insetCorners = (w, h, inset = 0.1) => [
    [w * inset, h * inset], [w * (1 - inset), h * inset], [w * (1 - inset), h * (1 - inset)], [w * inset, h * (1 - inset)],
  ];

  /** The photo scaled to fit its box with the page outline on top. Corners are kept in pixels of the
   * photo (the API's coordinates); the handles are buttons, so they take focus and the arrow keys.
   * `onChange(delayMs)` is called when a corner has moved and a new scan is worth making. */
  function cornerEditor({ id, label, onChange }) {
    const canvas = h("canvas", { id: `${id}-canvas`, class: "quad-canvas", role: "img", "aria-label": label });
    const help = h("p", { class: "hint quad-help", id: `${id}-handle-help` },
      "Drag a corner with the mouse, a pen or a finger, or select it with Tab and move it with the arrow keys (Shift: faster).");
    const handles = CORNER_NAMES.map((name, i) =>
      h("button", { type: "button", class: "quad-handle", id: `${id}-handle-${i}`, "aria-label": `${name} corner`, "aria-describedby": help.id }));
    const stage = h("div", { class: "quad-stage" }, canvas, ...handles);
    const element = h("div", { class: "quad-editor", hidden: true }, stage, help);
    const ctx = canvas.getContext("2d");
    let img = null;
    let width = 0;
    let height = 0;
    let margin = 0; // photo pixels of room around the photo
    let scale = 1; // CSS pixels per photo pixel
    let keyStep = 1; // photo pixels per arrow key press
    let corners = null; // [[x, y] x 4] in photo pixels, one per handle
    let drag = null; // {pointer, index, dx, dy} while a handle is held
    let frame = 0;
    let laidOutWidth = -1;

    function layout() {
      const avail = element.clientWidth;
      if (!img || !avail) return; // hidden (another tab): the ResizeObserver calls again when shown
      laidOutWidth = avail;
      const fullW = width + 2 * margin;
      const fullH = height + 2 * margin;
      const maxH = Math.max(240, Math.min(window.innerHeight * 0.7, 720));
      scale = Math.min(avail / fullW, maxH / fullH);
      const cssW = Math.round(fullW * scale);
      const cssH = Math.round(fullH * scale);
      stage.style.width = `${cssW}px`;
      stage.style.height = `${cssH}px`;
      // The backing store at device pixels keeps the photo and the outline sharp on HiDPI screens.
      const dpr = window.devicePixelRatio || 1;
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
      render();
    }

    function render() {
      frame = 0;
      if (!img || laidOutWidth <= 0) return; // not laid out yet: layout() renders

      const k = canvas.width / (width + 2 * margin); // device pixels per photo pixel
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#2b3340";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.setTransform(k, 0, 0, k, margin * k, margin * k); // from here on: photo pixels
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(img, 0, 0, width, height);
      if (corners) {
        // Drawn in the order the server will use, so the outline is the page it will flatten.
        const quad = orderCorners(corners);
        const outline = () => {
          quad.forEach((p, i) => (i ? ctx.lineTo(...p) : ctx.moveTo(...p)));
          ctx.closePath();
        };
        ctx.beginPath();
        ctx.rect(-margin, -margin, width + 2 * margin, height + 2 * margin);
        outline();
        ctx.fillStyle = "rgba(12, 18, 28, 0.45)"; // dim what is not the page
        ctx.fill("evenodd");
        const px = 1 / scale; // one CSS pixel, in photo pixels
        ctx.beginPath();
        outline();
        ctx.lineJoin = "round";
        ctx.lineWidth = 5 * px;
        ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
        ctx.stroke();
        ctx.lineWidth = 2.5 * px;
        ctx.strokeStyle = isConvex(quad) ? "#1d5fd1" : "#d92d20"; // red: the server will refuse this shape
        ctx.stroke();
      }
      handles.forEach((handle, i) => {
        handle.hidden = !corners;
        if (!corners) return;
        const [x, y] = corners[i];
        handle.style.left = `${(x + margin) * scale}px`;
        handle.style.top = `${(y + margin) * scale}px`;
        handle.setAttribute("aria-label", `${CORNER_NAMES[i]} corner, at x ${Math.round(x)}, y ${Math.round(y)}`);
      });
    }

    function redraw() {
      if (!frame) frame = requestAnimationFrame(render);
    }

    function toPhoto(ev) {
      const r = stage.getBoundingClientRect();
      return [(ev.clientX - r.left) / scale - margin, (ev.clientY - r.top) / scale - margin];
    }

    const clamp = ([x, y]) => [Math.min(Math.max(x, -margin), width + margin), Math.min(Math.max(y, -margin), height + margin)];

    function move(i, p) {
      corners[i] = clamp(p);
      redraw();
    }

    /** After a drag, give each handle the corner its name says (a corner dragged past another swaps roles). */
    function settle(i) {
      const moved = corners[i];
      corners = orderCorners(corners);
      const j = corners.indexOf(moved);
      if (j !== i && document.activeElement === handles[i]) handles[j].focus();
      redraw();
    }

    handles.forEach((handle, i) => {
      handle.addEventListener("pointerdown", (ev) => {
        if (drag || !corners || ev.button !== 0) return;
        ev.preventDefault(); // no text selection, no emulated mouse events
        handle.focus();
        handle.setPointerCapture(ev.pointerId);
        const [x, y] = toPhoto(ev);
        // Keep the grab offset, so taking a handle by its edge does not make it jump.
        drag = { pointer: ev.pointerId, index: i, dx: corners[i][0] - x, dy: corners[i][1] - y };
        handle.classList.add("dragging");
      });
      handle.addEventListener("pointermove", (ev) => {
        if (!drag || ev.pointerId !== drag.pointer) return;
        const [x, y] = toPhoto(ev);
        move(drag.index, [x + drag.dx, y + drag.dy]);
      });
      const end = (ev) => {
        if (!drag || ev.pointerId !== drag.pointer) return;
        drag = null;
        handle.classList.remove("dragging");
        settle(i);
        onChange(150);
      };
      handle.addEventListener("pointerup", end);
      handle.addEventListener("pointercancel", end);
      handle.addEventListener("keydown", (ev) => {
        const step = ev.shiftKey ? 10 * keyStep : keyStep;
        const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
        if (!d || !corners || drag) return;
        ev.preventDefault(); // the arrows move the corner, not the page
        move(i, [corners[i][0] + d[0], corners[i][1] + d[1]]);
        onChange(400); // a held key repeats: scan once it is let go
      });
    });

    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        if (element.clientWidth !== laidOutWidth) layout();
      }).observe(element);
    } else {
      window.addEventListener("resize", layout);
    }

    return {
      element,
      /** Show a decoded <img> with `points` ([[x, y] x 4], photo pixels) as the corners. */
      load(image, points) {
        img = image;
        width = image.naturalWidth;
        height = image.naturalHeight;
        margin = Math.round(EDITOR_MARGIN * Math.max(width, height));
        keyStep = Math.max(1, Math.round(Math.max(width, height) / 200));
        corners = points.map(clamp);
        element.hidden = false;
        laidOutWidth = -1;
        layout();
      },
      clear() {
        img = null;
        corners = null;
        drag = null;
        element.hidden = true;
      },
      /** The corners in photo pixels (2 decimals), in handle order; null when none are shown. */
      corners: () => corners && corners.map((p) => p.map((v) => Math.round(v * 100) / 100)),
    };
  }

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
  const kit = {
    h, postImage, postScan, humanMessage, ApiError, resultCard, asker, drawingPad, uploadBox, imageView, drawOverlay, cornerEditor,
  };

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

  // A word is read once the writer pauses this long after a stroke, not after every stroke.
  const WORD_PAUSE_MS = 700;

  /** word: write or upload a word, a phrase or a few lines -> the reading, and each word's box. */
  function wordTask() {
    const id = "word";
    return {
      id,
      title: "Word",
      blurb: "Write a word or a short phrase (a few lines are fine) in the box, or upload a photo of handwriting. It is split into words, each word is read and, with the dictionary on, spelled as an English word.",
      mount(panel) {
        const result = kit.resultCard(id, "Reading", { placeholder: "The reading and the words found appear here." });
        const view = kit.imageView({ id, alt: "The image that was read, with a box around each word found" });
        view.element.classList.add("word-view");
        let current = null; // {blob, filename, source, drawn} last sent; read again when an option changes
        let renders = 0; // bumped per answer, so a late-decoding image never takes an older answer's boxes
        let timer = 0;

        const segment = h("input", { type: "checkbox", id: `${id}-segment`, checked: true });
        const lexicon = h("input", { type: "checkbox", id: `${id}-lexicon`, checked: true });
        const flags = () => ({ segment: segment.checked ? 1 : 0, lexicon: lexicon.checked ? 1 : 0 });

        // The whole `what` rides along as the asker's source, so the answer is drawn over its own image.
        const ask = kit.asker(id, result, (answer, body, what) => render(answer, body, what));
        const read = (what) => {
          clearTimeout(timer);
          current = what;
          ask(what.blob, what.filename, what, flags());
        };
        const readDrawing = async () =>
          read({ blob: await pad.toBlob(), filename: "drawing.png", source: "your writing", drawn: true });

        const readBtn = h("button", { type: "button", class: "btn btn-primary", id: `${id}-read` }, "Read");
        readBtn.addEventListener("click", readDrawing);
        const pad = kit.drawingPad({
          id,
          label: "Writing area: write a word or a phrase with a mouse, pen or finger",
          width: 800,
          height: 200,
          penWidth: 8,
          actions: [readBtn],
          onStart: () => clearTimeout(timer), // still writing: wait for the pause after this stroke
          onRelease: () => {
            clearTimeout(timer);
            timer = setTimeout(readDrawing, WORD_PAUSE_MS);
          },
          onClear: () => {
            clearTimeout(timer);
            current = null;
            result.reset();
          },
        });
        const upload = kit.uploadBox({
          id,
          what: "handwriting",
          onFile: (file) => read({ blob: file, filename: file.name, source: file.name }),
          onReject: (err) => result.showError(err),
        });
        for (const box of [segment, lexicon]) {
          box.addEventListener("change", () => {
            if (current && current.drawn) readDrawing(); // the pad as it is now, strokes since included
            else if (current) read(current);
          });
        }

        /** Highlight word i in both the picture and the list (hover or focus on either). */
        function highlight(i, on) {
          const shape = view.svg.children[i];
          const item = document.getElementById(`${id}-word-${i}`);
          if (shape) shape.classList.toggle("active", on);
          if (item) item.classList.toggle("active", on);
        }

        function render(answer, body, what) {
          if (what !== current) return; // cleared while it was being read
          const r = answer.results[0];
          const mine = ++renders;
          const items = r.words.map((w, i) =>
            h("li", {
              id: `${id}-word-${i}`, class: "word-chip", tabindex: 0, title: `Line ${w.line + 1}, ${pct(w.confidence)} sure`,
              onpointerenter: () => highlight(i, true), onpointerleave: () => highlight(i, false),
              onfocus: () => highlight(i, true), onblur: () => highlight(i, false),
            },
            h("span", { class: "word-text" }, w.text),
            h("span", { class: "word-p" }, pct(w.confidence))));
          const n = r.words.length;
          const parts = [
            h("p", { class: "source" }, `From ${what.source}`),
            h("p", { class: "reading", id: `${id}-reading` }, r.text),
            r.text ? null : h("p", { class: "placeholder" }, "No writing was found in this image."),
            view.element,
            n ? h("h4", { class: "top-heading" }, n === 1 ? "1 word" : `${n} words`) : null,
            n ? h("ol", { class: "word-list", id: `${id}-words` }, items) : null,
            modelNote(answer.model),
          ];
          body.replaceChildren(...parts.filter(Boolean)); // the DOM would print a null as "null"
          view.show(what.blob).then(() => {
            if (mine !== renders) return;
            view.overlay(r.words.map((w) => ({ box: w.box, label: w.text })));
            [...view.svg.children].forEach((g, i) => {
              const w = r.words[i];
              g.append(s("title", {}, `${w.text}: ${pct(w.confidence)} sure`));
              g.addEventListener("pointerenter", () => highlight(i, true));
              g.addEventListener("pointerleave", () => highlight(i, false));
            });
          }, () => {}); // a format the browser cannot show (TIFF): the reading stands without the picture
        }

        panel.append(
          h("div", { class: "workbench word-bench" },
            card("Write", pad.element),
            card("Upload", upload.element),
            result.element));
        result.element.insertBefore(
          h("fieldset", { class: "word-options" },
            h("legend", { class: "visually-hidden" }, "Reading options"),
            h("label", { class: "check", for: segment.id }, segment, "Split into words"),
            h("label", { class: "check", for: lexicon.id }, lexicon, "Dictionary")),
          result.element.querySelector(".error"));
      },
    };
  }

  // Photos larger than this (a side, in pixels) are re-encoded smaller for the scans made while the
  // corners are adjusted, so each drag does not upload the whole photo again; downloads use the original.
  const PREVIEW_MAX_SIDE = 1600;

  /** Decode a File in the browser; resolves to an <img> (EXIF orientation applied, as the server does). */
  function decodeFile(file) {
    const img = new Image();
    img.src = URL.createObjectURL(file);
    return img.decode().then(() => img, (err) => {
      URL.revokeObjectURL(img.src);
      throw err;
    });
  }

  /** The photo as sent for quick scans: {blob, fx, fy}, with fx, fy from photo to preview pixels. */
  async function previewOf(img, file) {
    const side = Math.max(img.naturalWidth, img.naturalHeight);
    if (side <= PREVIEW_MAX_SIDE) return { blob: file, fx: 1, fy: 1 };
    const f = PREVIEW_MAX_SIDE / side;
    const c = h("canvas", { width: Math.round(img.naturalWidth * f), height: Math.round(img.naturalHeight * f) });
    c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
    const blob = await new Promise((resolve) => c.toBlob(resolve, "image/jpeg", 0.9));
    if (!blob) return { blob: file, fx: 1, fy: 1 };
    return { blob, fx: c.width / img.naturalWidth, fy: c.height / img.naturalHeight };
  }

  function saveBlob(blob, filename) {
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download may start after click() returns
  }

  /** doc-edges: a photo of a page -> its corners (adjustable) and the flattened page, to download. */
  function docTask() {
    const id = "doc-edges";
    return {
      id,
      title: "Document",
      blurb: "Upload a photo of a page. Its corners are found for you; drag them to adjust, then download the flattened page as a JPEG or a PDF.",
      mount(panel) {
        const result = kit.resultCard(id, "Scan", { busyText: "Flattening…", placeholder: "The flattened page appears here." });
        const status = h("p", { class: "doc-status", id: `${id}-status`, role: "status" });
        const editor = kit.cornerEditor({ id, label: "The photo, with the outline of the page to flatten", onChange: (ms) => rescan(ms) });
        const upload = kit.uploadBox({ id, what: "a page", onFile: (file) => load(file), onReject: (err) => result.showError(err) });
        const enhance = h("input", { type: "checkbox", id: `${id}-enhance` });
        const jpegButton = h("button", { type: "button", class: "btn", id: `${id}-download-jpeg`, disabled: true }, "Download JPEG");
        const pdfButton = h("button", { type: "button", class: "btn", id: `${id}-download-pdf`, disabled: true }, "Download PDF");
        const scanImg = h("img", { id: `${id}-scan`, class: "scan-image", alt: "The flattened page" });
        let photo = null; // {file, preview: {blob, fx, fy}, img} of the current photo
        let loads = 0; // bumped per photo, so answers about an earlier photo are dropped
        let timer = 0;
        let inFlight = null;
        let scanUrl = null;
        let photoUrl = null; // the decoded photo's object URL, freed when the next photo comes

        async function load(file) {
          const mine = ++loads;
          clearTimeout(timer);
          if (inFlight) inFlight.abort();
          inFlight = null; // so the aborted scan leaves the busy state to this load
          photo = null;
          editor.clear();
          if (photoUrl) URL.revokeObjectURL(photoUrl);
          photoUrl = null;
          result.reset();
          upload.element.classList.add("has-photo");
          status.textContent = "Finding the page…";
          [jpegButton, pdfButton].forEach((b) => (b.disabled = true));
          result.setBusy(true);
          const img = await decodeFile(file).catch(() => null); // e.g. a TIFF: the server reads it, the browser cannot
          if (img) photoUrl = img.src; // freed by the next load, whether or not this one finishes
          if (mine !== loads) return;
          let page;
          try {
            page = (await kit.postImage("doc-edges", file, {}, { filename: file.name })).results[0];
          } catch (err) {
            if (mine !== loads) return;
            result.setBusy(false);
            status.textContent = "";
            result.showError(toApiError(err));
            return;
          }
          const preview = img ? await previewOf(img, file) : { blob: file, fx: 1, fy: 1 };
          if (mine !== loads) return;
          photo = { file, preview, img };
          if (img) {
            editor.load(img, page.found ? page.corners : insetCorners(img.naturalWidth, img.naturalHeight));
            status.textContent = page.found
              ? `Page found (${pct(page.confidence)} sure). Drag the corners to adjust.`
              : "No page found, so the corners start at a default rectangle: drag them onto the page's corners.";
          } else {
            status.textContent = "This browser cannot show the photo, so its corners cannot be adjusted here; the scan uses the ones the server finds.";
          }
          status.classList.toggle("warn", !page.found || !img);
          [jpegButton, pdfButton].forEach((b) => (b.disabled = false));
          runScan();
        }

        function rescan(delayMs) {
          clearTimeout(timer);
          timer = setTimeout(runScan, delayMs);
        }

        /** Flatten the preview with the current corners; a newer scan cancels this one. */
        async function runScan() {
          if (!photo) return;
          if (inFlight) inFlight.abort();
          const ctrl = new AbortController();
          inFlight = ctrl;
          const corners = editor.corners();
          const { blob, fx, fy } = photo.preview;
          result.clearError();
          result.setBusy(true);
          try {
            const scan = await kit.postScan(blob, {
              corners: corners && corners.map(([x, y]) => [x * fx, y * fy]),
              enhance: enhance.checked,
              filename: photo.file.name,
              signal: ctrl.signal,
            });
            show(scan);
          } catch (err) {
            if (err.name === "AbortError") return;
            result.reset(); // the old page would look like the answer to these corners
            result.showError(toApiError(err));
          } finally {
            if (inFlight === ctrl) {
              inFlight = null;
              result.setBusy(false);
            }
          }
        }

        function show(scan) {
          if (scanUrl) URL.revokeObjectURL(scanUrl);
          scanUrl = URL.createObjectURL(scan.blob);
          scanImg.src = scanUrl;
          // What the server used (pixels of the photo it was sent), for anyone inspecting the page.
          scanImg.dataset.corners = JSON.stringify(scan.corners);
          scanImg.dataset.found = String(scan.found);
          result.body.replaceChildren(
            h("figure", { class: "scan-view" }, scanImg),
            h("p", { class: "source" }, `From ${photo.file.name}${scan.found ? "" : " (not flattened: no page was found)"}`));
        }

        async function download(format, button) {
          if (!photo) return;
          button.disabled = true;
          result.clearError();
          try {
            const scan = await kit.postScan(photo.file, {
              corners: editor.corners(), enhance: enhance.checked, format, filename: photo.file.name,
            });
            const stem = photo.file.name.replace(/\.[^.]*$/, "") || "page";
            saveBlob(scan.blob, `${stem}-scan.${format === "pdf" ? "pdf" : "jpg"}`);
          } catch (err) {
            result.showError(toApiError(err));
          } finally {
            button.disabled = false;
          }
        }

        enhance.addEventListener("change", () => rescan(0));
        jpegButton.addEventListener("click", () => download("jpeg", jpegButton));
        pdfButton.addEventListener("click", () => download("pdf", pdfButton));
        result.element.append(
          h("div", { class: "scan-controls" },
            h("label", { class: "check", for: enhance.id }, enhance, "Enhance (scan look)"),
            h("div", { class: "scan-downloads" }, jpegButton, pdfButton)));
        panel.append(
          h("div", { class: "workbench doc-bench" },
            card("Photo", upload.element, editor.element, status),
            result.element));
      },
    };
  }

  /** Put `text` on the clipboard; resolves to whether it got there. The Clipboard API where the page
   * may use it (a secure context, permission granted), else a hidden textarea and execCommand("copy"),
   * which older browsers and pages served over plain http from another host still allow. */
  async function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch {
        // Refused (no permission, or the document lost focus): try the old way.
      }
    }
    const area = h("textarea", { class: "copy-buffer", readonly: true, "aria-hidden": "true", tabindex: -1 });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }

  /** chinese: a photo or a page -> its text lines, each outlined on the image, and the text to copy. */
  function chineseTask() {
    const id = "chinese";
    return {
      id,
      title: "Chinese",
      blurb: "Upload a photo or a scan with Chinese text: a page, a sign, a receipt. The text lines are found and read, each outlined on the image, and the text can be copied. Turn off “Detect lines” for a photo of a single line.",
      mount(panel) {
        const result = kit.resultCard(id, "Text", { placeholder: "The text read from the image appears here, one row per line." });
        const view = kit.imageView({ id, alt: "The uploaded image, with an outline around each text line found" });
        view.element.classList.add("zh-view");
        const detect = h("input", { type: "checkbox", role: "switch", id: `${id}-detect`, checked: true });
        let current = null; // {blob, filename, source, shown} last sent; read again when the switch changes
        let renders = 0; // bumped per answer, so a late-decoding image never takes an older answer's boxes

        const ask = kit.asker(id, result, (answer, body, what) => render(answer, body, what));
        const read = (what) => {
          current = what;
          view.svg.replaceChildren(); // the outlines belong to the previous answer
          ask(what.blob, what.filename, what, { detect: detect.checked ? 1 : 0 });
        };
        const upload = kit.uploadBox({
          id,
          what: "Chinese text",
          onFile: (file) => {
            upload.element.classList.add("has-photo");
            // Resolves to false where the browser cannot show the file (TIFF): the text still comes.
            const shown = view.show(file).then(() => true, () => false);
            read({ blob: file, filename: file.name, source: file.name, shown });
          },
          onReject: (err) => result.showError(err),
        });
        detect.addEventListener("change", () => {
          if (current) read(current);
        });

        /** Highlight line i in both the picture and the list (hover or focus on either). */
        function highlight(i, on) {
          const shape = view.svg.children[i];
          const row = document.getElementById(`${id}-line-${i}`);
          if (shape) shape.classList.toggle("active", on);
          if (row) row.classList.toggle("active", on);
        }

        function copyButton(text) {
          const button = h("button", { type: "button", class: "btn", id: `${id}-copy` }, "Copy text");
          const said = h("span", { class: "zh-copied", id: `${id}-copy-status`, role: "status" });
          button.addEventListener("click", async () => {
            const ok = await copyText(text);
            said.textContent = ok ? "Copied." : "Could not copy here: select the lines and copy them by hand.";
            said.classList.toggle("warn", !ok);
            button.focus(); // the fallback's textarea took it
          });
          return [button, said];
        }

        function render(answer, body, what) {
          if (what !== current) return; // another image was chosen while this one was read
          const r = answer.results[0];
          const mine = ++renders;
          const n = r.lines.length;
          const rows = r.lines.map((line, i) =>
            h("li", {
              id: `${id}-line-${i}`, class: "zh-line", tabindex: 0, title: `Line ${i + 1}, ${pct(line.confidence)} sure`,
              onpointerenter: () => highlight(i, true), onpointerleave: () => highlight(i, false),
              onfocus: () => highlight(i, true), onblur: () => highlight(i, false),
            },
            h("span", { class: "zh-line-n", "aria-hidden": "true" }, String(i + 1)),
            h("span", { class: "zh-line-text" }, line.text),
            h("span", { class: "zh-line-p" }, pct(line.confidence))));
          const parts = [
            h("p", { class: "source" }, `From ${what.source}`),
            r.turned ? h("p", { class: "zh-note", id: `${id}-turned` }, "The image was upside down; it was read turned the right way up.") : null,
            n ? h("div", { class: "zh-toolbar" }, h("h4", { class: "top-heading" }, n === 1 ? "1 line" : `${n} lines`), ...copyButton(r.text)) : null,
            n ? h("ol", { class: "zh-lines", id: `${id}-lines`, lang: "zh" }, rows) : h("p", { class: "placeholder" }, "No text was found in this image."),
            modelNote(answer.model),
          ];
          body.replaceChildren(...parts.filter(Boolean)); // the DOM would print a null as "null"
          what.shown.then((ok) => {
            if (!ok || mine !== renders) return;
            // The boxes are four corners in pixels of the upload: the overlay's viewBox scales them to the shown size.
            view.overlay(r.lines.map((line, i) => ({ points: line.box, label: String(i + 1) })));
            [...view.svg.children].forEach((g, i) => {
              g.append(s("title", {}, `${r.lines[i].text}: ${pct(r.lines[i].confidence)} sure`));
              g.addEventListener("pointerenter", () => highlight(i, true));
              g.addEventListener("pointerleave", () => highlight(i, false));
            });
          });
        }

        panel.append(
          h("div", { class: "workbench zh-bench" },
            card("Image",
              h("fieldset", { class: "zh-options" },
                h("legend", { class: "visually-hidden" }, "Reading options"),
                h("label", { class: "check", for: detect.id }, detect, "Detect lines"),
                h("span", { class: "hint" }, "Off: the whole image is read as one line.")),
              upload.element,
              view.element),
            result.element));
      },
    };
  }

  // One entry per served task. A new task is one more entry whose mount() composes the kit (see
  // wordTask: a pad and an upload, then view.overlay(result.words.map((w) => ({box: w.box, label: w.text})))).
  const TASKS = [
    charTask({ id: "digit", title: "Digit", what: "a digit (0–9)" }),
    charTask({ id: "letter", title: "Letter", what: "a letter (a–z)" }),
    wordTask(),
    docTask(),
    chineseTask(),
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
