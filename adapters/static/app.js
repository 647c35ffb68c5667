// emotts WebUI: plain JavaScript, no build step, nothing loaded from elsewhere.
//
// GET /v1/webui/options fills the controls; POST /v1/webui/render answers the
// WAV (base64), the plan, where each segment is heard, and the rendered pitch
// and loudness, which are drawn on #plot with one band per segment in its
// emotion's colour. The words of the answer's timings are listed in #words
// under the plot, each placed at its start..end on the plot's time axis; the
// one whose span holds the player's currentTime is marked current (class and
// aria-current) while it plays or after a seek. After drawing, #plot, #player
// and #words carry data- attributes saying what was drawn (the browser test
// reads them).
"use strict";

(function () {
  const $ = (selector) => document.querySelector(selector);
  const els = {
    form: $("#form"),
    text: $("#text"),
    voice: $("#voice"),
    emotion: $("#emotion"),
    intensity: $("#intensity"),
    intensityValue: $("#intensity-value"),
    transition: $("#transition"),
    strict: $("#strict"),
    generate: $("#generate"),
    status: $("#status"),
    error: $("#error"),
    warnings: $("#warnings"),
    player: $("#player"),
    download: $("#download"),
    plot: $("#plot"),
    words: $("#words"),
    legend: $("#legend"),
    planBody: $("#plan tbody"),
    referenceFile: $("#reference-file"),
    referenceWeight: $("#reference-weight"),
    referenceWeightValue: $("#reference-weight-value"),
    referenceClear: $("#reference-clear"),
    referenceInfo: $("#reference-info"),
  };

  const NEUTRAL_COLOUR = "#8a8f98";
  const PLOT = { left: 52, right: 52, top: 22, bottom: 30 };
  // Most rows the words under the plot take before a word that does not fit overlaps another.
  const WORD_LANES = 4;
  const state = {
    colours: {},
    result: null,
    audioUrl: null,
    busy: false,
    reference: null,
    wordNodes: [],
    currentWord: -1,
    wordsWidth: 0,
  };

  // -- helpers ----------------------------------------------------------------

  function colourOf(label) {
    return state.colours[label] || NEUTRAL_COLOUR;
  }

  function withAlpha(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function signed(value, digits) {
    const text = Math.abs(value).toFixed(digits);
    if (Number(text) === 0) return (0).toFixed(digits);
    return (value < 0 ? "\u2212" : "+") + text;
  }

  function niceStep(span, ticks) {
    const raw = span / Math.max(1, ticks);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) {
      if (m * power >= raw) return m * power;
    }
    return 10 * power;
  }

  function setStatus(text) {
    els.status.textContent = text;
  }

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = false;
  }

  function clearError() {
    els.error.textContent = "";
    els.error.hidden = true;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  // -- options ----------------------------------------------------------------

  async function loadOptions() {
    let options;
    try {
      const response = await fetch("/v1/webui/options");
      options = await response.json();
      if (!response.ok) throw new Error(options.error ? options.error.message : response.statusText);
    } catch (err) {
      showError(`Could not load the options: ${err.message}`);
      setStatus("Not ready");
      return;
    }
    for (const voice of options.voices) {
      const langs = voice.languages.join(", ");
      const option = el("option", { value: voice.name, text: `${voice.name} \u2014 ${langs} (${voice.backend})` });
      if (voice.description) option.title = voice.description;
      els.voice.append(option);
    }
    els.voice.value = options.defaults.voice;
    for (const emotion of options.emotions) {
      state.colours[emotion.label] = emotion.colour;
      const option = el("option", { value: emotion.label, text: emotion.label });
      option.title = emotion.description || "";
      els.emotion.append(option);
    }
    els.intensity.value = options.defaults.intensity;
    els.transition.value = options.defaults.transition_ms;
    els.strict.checked = options.defaults.mode === "strict";
    if (!els.text.value) els.text.value = options.example;
    showIntensity();
    els.generate.disabled = false;
    document.body.dataset.ready = "true";
    setStatus("Ready");
  }

  function showIntensity() {
    els.intensityValue.textContent = Number(els.intensity.value).toFixed(2);
  }

  // -- render -----------------------------------------------------------------

  function request() {
    const body = {
      input: els.text.value,
      voice: els.voice.value || null,
      emotion: els.emotion.value || null,
      intensity: Number(els.intensity.value),
      mode: els.strict.checked ? "strict" : "lenient",
    };
    const transition = els.transition.value.trim();
    if (transition !== "") body.transition_ms = Number(transition);
    if (state.reference) {
      body.reference = state.reference;
      body.reference_weight = Number(els.referenceWeight.value);
    }
    return body;
  }

  // -- reference recording ----------------------------------------------------

  function describeAnalysis(analysis) {
    const nearest = Object.entries(analysis.nearest)
      .map(([label, weight]) => `${label} ${Math.round(weight * 100)}%`)
      .join(", ");
    const m = analysis.measurements;
    return `${analysis.source}: sounds ${nearest} (${m.duration_s.toFixed(1)} s, ` +
      `${Math.round(m.f0_median_hz)} Hz, ${m.syllable_rate.toFixed(1)} syllables/s)`;
  }

  function setReference(id, text) {
    state.reference = id;
    els.referenceWeight.disabled = !id;
    els.referenceClear.disabled = !id;
    els.referenceInfo.textContent = text;
  }

  async function uploadReference() {
    const file = els.referenceFile.files[0];
    if (!file) return;
    clearError();
    setReference(null, `Analysing ${file.name}…`);
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const response = await fetch("/v1/references", { method: "POST", body: form });
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        throw new Error(data && data.error ? data.error.message : `${response.status} ${response.statusText}`);
      }
      setReference(data.id, describeAnalysis(data.analysis));
    } catch (err) {
      els.referenceFile.value = "";
      setReference(null, "No reference: the emotion above is used as is.");
      showError(err.message);
    }
  }

  function clearReference() {
    els.referenceFile.value = "";
    setReference(null, "No reference: the emotion above is used as is.");
  }

  async function generate() {
    if (state.busy) return;
    clearError();  // empty input is checked by the server, so messages come from one place
    state.busy = true;
    els.generate.disabled = true;
    els.generate.setAttribute("aria-busy", "true");
    setStatus("Rendering\u2026");
    const started = performance.now();
    try {
      const response = await fetch("/v1/webui/render", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request()),
      });
      let data;
      try {
        data = await response.json();
      } catch (err) {
        throw new Error(`the server answered ${response.status} ${response.statusText}`);
      }
      if (!response.ok) {
        throw new Error(data && data.error ? data.error.message : `${response.status} ${response.statusText}`);
      }
      showResult(data);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      setStatus(`Rendered ${data.duration_s.toFixed(2)} s of audio in ${seconds} s`);
    } catch (err) {
      showError(err.message);
      setStatus("Failed");
    } finally {
      state.busy = false;
      els.generate.disabled = false;
      els.generate.removeAttribute("aria-busy");
    }
  }

  function showResult(data) {
    state.result = data;
    const bytes = Uint8Array.from(atob(data.audio_wav_base64), (c) => c.charCodeAt(0));
    const blob = new Blob([bytes], { type: "audio/wav" });
    if (state.audioUrl) URL.revokeObjectURL(state.audioUrl);
    state.audioUrl = URL.createObjectURL(blob);
    delete els.player.dataset.duration;
    els.player.src = state.audioUrl;
    els.player.load();
    els.download.href = state.audioUrl;
    els.download.removeAttribute("aria-disabled");
    els.download.dataset.bytes = String(bytes.length);
    showWarnings(data.warnings);
    showPlan(data);
    showLegend(data);
    drawPlot();
    showWords(data);
  }

  function showWarnings(warnings) {
    els.warnings.replaceChildren(...warnings.map((w) => el("li", { text: w })));
    els.warnings.hidden = warnings.length === 0;
  }

  // -- plan table -------------------------------------------------------------

  function segmentTimes(spans) {
    const times = new Map();
    for (const span of spans) {
      const known = times.get(span.segment);
      if (known) known.end = Math.max(known.end, span.end_s);
      else times.set(span.segment, { start: span.start_s, end: span.end_s, emotion: span.emotion });
    }
    return times;
  }

  function dominant(weights) {
    let best = "neutral";
    let bestWeight = -1;
    for (const [label, weight] of Object.entries(weights)) {
      if (weight > bestWeight) {
        best = label;
        bestWeight = weight;
      }
    }
    return best;
  }

  function showPlan(data) {
    const times = segmentTimes(data.spans);
    const rows = data.plan.segments.map((segment, index) => {
      const emotion = dominant(segment.emotion);
      const t = segment.targets;
      const chips = Object.keys(segment.emotion).length
        ? Object.entries(segment.emotion).map(([label, weight]) => chip(label, weight.toFixed(2)))
        : [chip("neutral", "")];
      const when = times.get(index);
      const breaks = segment.break_before_ms || segment.break_after_ms
        ? `${segment.break_before_ms} / ${segment.break_after_ms} ms`
        : "\u2014";
      const row = el("tr", { "data-emotion": emotion, "data-segment": String(index) }, [
        el("td", { class: "num", text: String(index + 1) }),
        el("td", { class: "num", text: when ? `${when.start.toFixed(2)}\u2013${when.end.toFixed(2)} s` : "\u2014" }),
        el("td", { class: "seg-text", text: segment.text }),
        el("td", {}, [el("div", { class: "emotions" }, chips)]),
        el("td", { class: "num", text: `${signed(t.pitch_st, 1)} st` }),
        el("td", { class: "num", text: `\u00d7${t.range.toFixed(2)}` }),
        el("td", { class: "num", text: `\u00d7${t.rate.toFixed(2)}` }),
        el("td", { class: "num", text: `${signed(t.volume_db, 1)} dB` }),
        el("td", { class: "num", text: breaks }),
      ]);
      row.style.setProperty("--emotion", colourOf(emotion));
      if (when) {
        row.tabIndex = 0;
        row.title = "Play from here";
        const seek = () => playFrom(when.start);
        row.addEventListener("click", seek);
        row.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            seek();
          }
        });
      }
      return row;
    });
    els.planBody.replaceChildren(...rows);
  }

  function chip(label, weight) {
    const node = el("span", { class: "chip", "data-emotion": label }, [
      el("span", { class: "swatch", "aria-hidden": "true" }),
      document.createTextNode(weight ? `${label} ${weight}` : label),
    ]);
    node.style.setProperty("--emotion", colourOf(label));
    return node;
  }

  function playFrom(seconds) {
    els.player.currentTime = seconds;
    els.player.play().catch(() => {});
  }

  // -- legend and plot --------------------------------------------------------

  function emotionsHeard(data) {
    const seen = [];
    for (const span of data.spans) if (!seen.includes(span.emotion)) seen.push(span.emotion);
    return seen;
  }

  function showLegend(data) {
    const items = emotionsHeard(data).map((label) => {
      const item = el("li", { "data-emotion": label }, [
        el("span", { class: "swatch", "aria-hidden": "true" }),
        document.createTextNode(label),
      ]);
      item.style.setProperty("--emotion", colourOf(label));
      return item;
    });
    items.push(el("li", { class: "key pitch" }, [el("span", { class: "line", "aria-hidden": "true" }), document.createTextNode("pitch (Hz, left)")]));
    items.push(el("li", { class: "key loudness" }, [el("span", { class: "line", "aria-hidden": "true" }), document.createTextNode("loudness (dB, right)")]));
    els.legend.replaceChildren(...items);
  }

  function emotionAt(spans, time) {
    for (const span of spans) if (time >= span.start_s && time < span.end_s) return span.emotion;
    return null;
  }

  function plotWidth() {
    return Math.max(200, els.plot.clientWidth);
  }

  function drawPlot() {
    const canvas = els.plot;
    const data = state.result;
    const ratio = window.devicePixelRatio || 1;
    const width = plotWidth();
    const height = Math.max(160, canvas.clientHeight);
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);
    if (!data) return;

    const x0 = PLOT.left, x1 = width - PLOT.right, y0 = PLOT.top, y1 = height - PLOT.bottom;
    const duration = Math.max(data.duration_s, 0.01);
    const xOf = (t) => x0 + (t / duration) * (x1 - x0);

    // segment bands
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    for (const span of data.spans) {
      const a = xOf(span.start_s), b = xOf(span.end_s);
      const colour = colourOf(span.emotion);
      ctx.fillStyle = withAlpha(colour, 0.13);
      ctx.fillRect(a, y0, b - a, y1 - y0);
      ctx.fillStyle = colour;
      ctx.fillRect(a, y0 - 8, b - a, 4);
      if (b - a > ctx.measureText(span.emotion).width + 6) {
        ctx.fillStyle = "#333";
        ctx.fillText(span.emotion, a + 3, y0 + 9);
      }
    }

    // loudness (right axis)
    const db = data.loudness.db;
    const loudTimes = data.loudness.times;
    let dbTop = Math.max(...db, 1);
    dbTop = Math.ceil(dbTop / 10) * 10;
    const dbBottom = Math.max(0, dbTop - 60);
    const yDb = (v) => y1 - ((Math.min(Math.max(v, dbBottom), dbTop) - dbBottom) / (dbTop - dbBottom)) * (y1 - y0);
    if (db.length) {
      ctx.beginPath();
      ctx.moveTo(xOf(loudTimes[0]), y1);
      db.forEach((v, i) => ctx.lineTo(xOf(loudTimes[i]), yDb(v)));
      ctx.lineTo(xOf(loudTimes[loudTimes.length - 1]), y1);
      ctx.closePath();
      ctx.fillStyle = "rgba(60, 64, 72, 0.06)";
      ctx.fill();
      ctx.beginPath();
      db.forEach((v, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, xOf(loudTimes[i]), yDb(v)));
      ctx.strokeStyle = "rgba(60, 64, 72, 0.55)";
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.stroke();
      ctx.setLineDash([]);
    }

    // pitch (left axis)
    const hz = data.pitch.hz;
    const pitchTimes = data.pitch.times;
    const voiced = hz.filter((v) => v !== null);
    let hzLow = voiced.length ? Math.min(...voiced) : 80;
    let hzHigh = voiced.length ? Math.max(...voiced) : 200;
    const pad = Math.max(10, (hzHigh - hzLow) * 0.12);
    const hzStep = niceStep(hzHigh - hzLow + 2 * pad, 5);
    hzLow = Math.max(0, Math.floor((hzLow - pad) / hzStep) * hzStep);
    hzHigh = Math.ceil((hzHigh + pad) / hzStep) * hzStep;
    const yHz = (v) => y1 - ((v - hzLow) / (hzHigh - hzLow)) * (y1 - y0);

    // grid and axes
    ctx.strokeStyle = "#e3e5e8";
    ctx.lineWidth = 1;
    ctx.fillStyle = "#555a63";
    ctx.textAlign = "right";
    for (let v = hzLow; v <= hzHigh + 1e-6; v += hzStep) {
      const y = Math.round(yHz(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
      ctx.stroke();
      ctx.fillText(String(Math.round(v)), x0 - 6, y);
    }
    ctx.textAlign = "left";
    for (let v = dbBottom; v <= dbTop; v += 20) ctx.fillText(`${v}`, x1 + 6, yDb(v));
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const tStep = niceStep(duration, Math.max(2, Math.floor((x1 - x0) / 70)));
    for (let t = 0; t <= duration + 1e-6; t += tStep) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, y1);
      ctx.lineTo(x, y1 + 4);
      ctx.stroke();
      ctx.fillText(`${Number(t.toFixed(2))} s`, x, y1 + 7);
    }
    ctx.textBaseline = "middle";
    ctx.fillText("Hz", x0 - 24, y0 - 12);
    ctx.fillText("dB", x1 + 20, y0 - 12);
    ctx.strokeStyle = "#9aa0a8";
    ctx.strokeRect(x0 + 0.5, y0 + 0.5, x1 - x0 - 1, y1 - y0 - 1);

    // the pitch line, coloured by the emotion heard at each frame
    let drawn = 0;
    ctx.lineWidth = 2.5;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (let i = 0; i < hz.length; i++) {
      if (hz[i] === null) continue;
      drawn += 1;
      const colour = colourOf(emotionAt(data.spans, pitchTimes[i]) || "neutral");
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      const next = i + 1 < hz.length ? hz[i + 1] : null;
      if (next !== null && i + 1 < hz.length) {
        ctx.beginPath();
        ctx.moveTo(xOf(pitchTimes[i]), yHz(hz[i]));
        ctx.lineTo(xOf(pitchTimes[i + 1]), yHz(next));
        ctx.stroke();
      } else {
        ctx.beginPath();
        ctx.arc(xOf(pitchTimes[i]), yHz(hz[i]), 1.3, 0, 2 * Math.PI);
        ctx.fill();
      }
    }

    // playhead
    const now = els.player.currentTime;
    if (els.player.src && now > 0) {
      const x = Math.round(xOf(Math.min(now, duration))) + 0.5;
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(x, y0 - 8);
      ctx.lineTo(x, y1);
      ctx.stroke();
    }

    canvas.dataset.points = String(drawn);
    canvas.dataset.loudnessPoints = String(db.length);
    canvas.dataset.segments = String(data.spans.length);
    canvas.dataset.emotions = emotionsHeard(data).join(" ");
    canvas.dataset.area = [x0, y0, x1, y1].map(Math.round).join(",");
    canvas.dataset.drawn = "true";
    canvas.setAttribute(
      "aria-label",
      `Pitch ${Math.round(hzLow)}\u2013${Math.round(hzHigh)} Hz and loudness over ${duration.toFixed(2)} s; ` +
        `segments: ${data.spans.map((s) => s.emotion).join(", ")}`
    );
  }

  // -- words under the plot ---------------------------------------------------

  function wordsOf(data) {
    return data && data.timings ? data.timings.words : [];
  }

  function showWords(data) {
    const words = wordsOf(data);
    state.wordNodes = words.map((word, index) => {
      const segment = data.plan.segments[word.segment];
      const emotion = segment ? dominant(segment.emotion) : "neutral";
      const button = el("button", {
        type: "button",
        class: "word-button",
        text: word.text,
        title: `${word.start.toFixed(2)}\u2013${word.end.toFixed(2)} s: play from here`,
        tabIndex: index === 0 ? 0 : -1,
      });
      button.addEventListener("click", () => playFrom(word.start));
      const item = el("li", { class: "word", "data-index": String(index), "data-emotion": emotion }, [
        el("span", { class: "word-span", "aria-hidden": "true" }),
        button,
      ]);
      item.style.setProperty("--emotion", colourOf(emotion));
      return item;
    });
    state.currentWord = -1;
    state.wordsWidth = 0;
    els.words.replaceChildren(...state.wordNodes);
    els.words.hidden = words.length === 0;
    els.words.dataset.count = String(words.length);
    layoutWords();
    highlightWord();
  }

  // Put each word's bar (.word-span) at its start..end on the plot's time axis and its text at
  // its start (moved left where it would stick out past the right edge); a word whose text or
  // bar would overlap one before it goes down a row, and where all WORD_LANES rows are taken
  // its text moves right, after the row's last word.
  function layoutWords() {
    const data = state.result;
    const nodes = state.wordNodes;
    if (!data || !nodes.length || els.words.hidden) return;
    const words = wordsOf(data);
    const width = plotWidth();
    const x0 = PLOT.left, x1 = width - PLOT.right;
    const duration = Math.max(data.duration_s, 0.01);
    const offset = els.plot.getBoundingClientRect().left + els.plot.clientLeft - els.words.getBoundingClientRect().left;
    const xOf = (t) => offset + x0 + (Math.min(Math.max(t, 0), duration) / duration) * (x1 - x0);
    const right = els.words.clientWidth;
    const texts = nodes.map((node) => node.lastElementChild);
    const sizes = texts.map((text) => [text.offsetWidth, text.offsetHeight]);  // one layout for all
    const rowHeight = Math.max(...sizes.map((size) => size[1])) + 6;
    const ends = [];  // right edge of the last word in each row
    nodes.forEach((node, i) => {
      const start = xOf(words[i].start);
      const span = Math.max(xOf(words[i].end) - start, 1);
      let left = Math.max(0, Math.min(start, right - sizes[i][0]));
      let row = ends.findIndex((end) => end <= Math.min(left, start));
      if (row < 0 && ends.length < WORD_LANES) row = ends.length;
      if (row < 0) {  // every row is taken here: the text follows the row that frees first
        row = ends.indexOf(Math.min(...ends));
        left = Math.max(0, Math.min(Math.max(left, ends[row]), right - sizes[i][0]));
      }
      ends[row] = Math.max(left + sizes[i][0], start + span) + 3;
      node.style.left = `${left}px`;
      node.style.top = `${row * rowHeight}px`;
      node.style.setProperty("--bar", `${start - left}px`);
      node.style.setProperty("--span", `${span}px`);
      node.dataset.row = String(row);
    });
    els.words.style.height = `${ends.length * rowHeight}px`;
    state.wordsWidth = width;
  }

  // The index of the word whose [start, end) holds `time`, or -1 (before, after or between words).
  function wordAt(words, time) {
    let low = 0, high = words.length - 1, found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (words[middle].start <= time) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found >= 0 && time < words[found].end ? found : -1;
  }

  function highlightWord() {
    const player = els.player;
    const time = player.currentTime;
    const heard = player.src && (time > 0 || !player.paused);
    const index = heard ? wordAt(wordsOf(state.result), time) : -1;
    els.words.dataset.time = String(time);
    els.words.dataset.current = String(index);
    if (index === state.currentWord) return;
    const before = state.wordNodes[state.currentWord];
    if (before) {
      before.classList.remove("current");
      before.removeAttribute("aria-current");
    }
    const now = state.wordNodes[index];
    if (now) {
      now.classList.add("current");
      now.setAttribute("aria-current", "true");
    }
    state.currentWord = index;
  }

  // One tab stop for the whole list: the word last focused; arrow keys, Home and End move
  // between words.
  function keepWordTabStop(event) {
    if (!event.target.classList.contains("word-button")) return;
    for (const node of state.wordNodes) node.lastElementChild.tabIndex = -1;
    event.target.tabIndex = 0;
  }

  function moveWordFocus(event) {
    const buttons = state.wordNodes.map((node) => node.lastElementChild);
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const last = buttons.length - 1;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: last }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    buttons[Math.min(Math.max(to, 0), last)].focus();
  }

  function animatePlayhead() {
    drawPlot();
    highlightWord();
    if (!els.player.paused && !els.player.ended) requestAnimationFrame(animatePlayhead);
  }

  // -- wiring -----------------------------------------------------------------

  els.generate.disabled = true;
  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    generate();
  });
  els.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      generate();
    }
  });
  els.intensity.addEventListener("input", showIntensity);
  els.referenceFile.addEventListener("change", uploadReference);
  els.referenceClear.addEventListener("click", clearReference);
  els.referenceWeight.addEventListener("input", () => {
    els.referenceWeightValue.textContent = Number(els.referenceWeight.value).toFixed(2);
  });
  els.player.addEventListener("loadedmetadata", () => {
    els.player.dataset.duration = String(els.player.duration);
  });
  els.player.addEventListener("play", () => requestAnimationFrame(animatePlayhead));
  els.player.addEventListener("seeked", drawPlot);
  for (const name of ["timeupdate", "seeked", "pause", "ended", "emptied"]) {
    els.player.addEventListener(name, highlightWord);
  }
  els.words.addEventListener("keydown", moveWordFocus);
  els.words.addEventListener("focusin", keepWordTabStop);
  els.plot.addEventListener("click", (event) => {
    if (!state.result) return;
    const rect = els.plot.getBoundingClientRect();
    const fraction = (event.clientX - rect.left - PLOT.left) / (rect.width - PLOT.left - PLOT.right);
    if (fraction >= 0 && fraction <= 1) playFrom(fraction * state.result.duration_s);
  });
  window.addEventListener("resize", drawPlot);
  if (window.ResizeObserver) {
    // the plot's width changes with the window and with a scroll bar; the next frame re-places
    // the words (not inside the observer, which would then see its own change)
    new ResizeObserver(() => {
      requestAnimationFrame(() => {
        if (plotWidth() !== state.wordsWidth) layoutWords();
      });
    }).observe(els.plot);
  } else {
    window.addEventListener("resize", layoutWords);
  }
  drawPlot();
  loadOptions();
})();
