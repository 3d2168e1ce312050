// The frame player: an animated figure steps frame by frame (buttons, slider, keys), plays at a chosen speed,
// saves the frame shown as PNG and presents full screen; the players inside one [data-linked] element step
// together under one set of controls. A figure's frames are its GIF, decoded here from <figure>.frames.js:
// a page opened from disk may load a script, but may neither fetch the GIF nor read back an <img>'s pixels.
"use strict";
(() => {
const loading = new Map();  // a frames script -> what to do with its GIF
window.reportgenFrames = (script, base64) => loading.get(script)?.(base64);

// --- the GIF: every frame's rectangle of palette indices, then frames composed on demand ---------------
function decode(bytes) {
  const signature = String.fromCharCode(...bytes.subarray(0, 6));
  if (!/^GIF8[79]a$/.test(signature)) throw new Error("not a GIF");
  const word = at => bytes[at] | bytes[at + 1] << 8;
  const table = (flags, at) => flags & 0x80 ? bytes.subarray(at, at + (3 << (flags & 7) + 1)) : null;
  const blocks = () => {  // the data sub-blocks from `at`, joined
    let size = 0;
    for (let k = at; bytes[k]; k += bytes[k] + 1) size += bytes[k];
    const data = new Uint8Array(size);
    for (let o = 0; bytes[at]; at += bytes[at] + 1) { data.set(bytes.subarray(at + 1, at + 1 + bytes[at]), o); o += bytes[at]; }
    at++;
    return data;
  };
  const width = word(6), height = word(8), global = table(bytes[10], 13), frames = [];
  let at = 13 + (global ? global.length : 0), control = {};
  while (at < bytes.length && bytes[at] !== 0x3B) {
    if (bytes[at] === 0x21) {  // an extension: only the graphic control (delay, transparency, disposal) matters here
      const kind = bytes[at + 1];
      at += 2;
      const data = blocks();
      if (kind === 0xF9) control = { disposal: data[0] >> 2 & 7, delay: data[1] | data[2] << 8,
                                     transparent: data[0] & 1 ? data[3] : -1 };
    } else if (bytes[at] === 0x2C) {
      const flags = bytes[at + 9], local = table(flags, at + 10);
      const [x, y, w, h] = [word(at + 1), word(at + 3), word(at + 5), word(at + 7)];
      at += 10 + (local ? local.length : 0);
      const size = bytes[at++];
      let pixels = lzw(size, blocks(), w * h);
      if (flags & 0x40) pixels = deinterlace(pixels, w, h);
      frames.push({ x, y, w, h, pixels, palette: local || global, transparent: -1, disposal: 0, delay: 10, ...control });
      control = {};
    } else {
      throw new Error(`not a GIF block at byte ${at}`);
    }
  }
  return { width, height, frames };
}

function lzw(minSize, data, count) {
  const out = new Uint8Array(count), clear = 1 << minSize, end = clear + 1;
  const prefix = new Int16Array(4096), suffix = new Uint8Array(4096), first = new Uint8Array(4096);
  const length = new Uint16Array(4096);
  for (let c = 0; c < clear; c++) { prefix[c] = -1; suffix[c] = first[c] = c; length[c] = 1; }
  let size = minSize + 1, next = end + 1, old = -1, pos = 0, acc = 0, bits = 0;
  for (let i = 0; i < data.length && pos < count;) {
    acc |= data[i++] << bits;
    bits += 8;
    while (bits >= size && pos < count) {
      const code = acc & (1 << size) - 1;
      acc >>>= size;
      bits -= size;
      if (code === clear) { size = minSize + 1; next = end + 1; old = -1; continue; }
      if (code === end || code > next || (old === -1 && code >= clear)) return out;
      if (old !== -1 && next < 4096) {  // a new string: the last one and the first byte of this one
        prefix[next] = old;
        first[next] = first[old];
        suffix[next] = code === next ? first[old] : first[code];
        length[next] = length[old] + 1;
        if (++next === 1 << size && size < 12) size++;
      }
      let p = pos + length[code] - 1;
      pos += length[code];
      for (let c = code; c !== -1; c = prefix[c], p--) if (p < count) out[p] = suffix[c];
      old = code;
    }
  }
  return out;
}

function deinterlace(pixels, w, h) {
  const out = new Uint8Array(pixels.length);
  let row = 0;
  for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]]) {
    for (let y = start; y < h; y += step, row++) out.set(pixels.subarray(row * w, (row + 1) * w), y * w);
  }
  return out;
}

class Frames {
  // Frame k composed from the first frame on, as a browser shows it; every `every`-th frame is kept whole,
  // so that any frame is a copy and a few rectangles away (memory bounded at about 48 MB per figure).
  constructor(gif) {
    Object.assign(this, gif);
    this.buffer = new Uint8ClampedArray(this.width * this.height * 4);
    this.image = new ImageData(this.buffer, this.width, this.height);
    this.every = Math.max(1, Math.ceil(this.frames.length * this.buffer.length / 48e6));
    this.kept = [];
    for (let k = 0; k < this.frames.length; k++) {
      this.step(k);
      if (k % this.every === 0) this.kept.push(this.buffer.slice());
    }
  }

  step(k) {  // the buffer shows frame k - 1: make it show frame k
    const last = this.frames[k - 1];
    if (!last) this.buffer.fill(0);
    else if (last.disposal === 2) this.paint(last, true);  // reportgen's GIFs use disposal 1 and 2 only
    this.paint(this.frames[k], false);
    this.at = k;
  }

  paint({ x, y, w, h, pixels, palette, transparent }, clear) {
    const W = this.width, buffer = this.buffer;
    for (let r = 0; r < h && y + r < this.height; r++) {
      for (let c = 0, o = ((y + r) * W + x) * 4, i = r * w; c < w && x + c < W; c++, o += 4, i++) {
        if (clear) { buffer.fill(0, o, o + 4); continue; }
        const v = pixels[i];
        if (v === transparent) continue;
        buffer[o] = palette[3 * v]; buffer[o + 1] = palette[3 * v + 1]; buffer[o + 2] = palette[3 * v + 2];
        buffer[o + 3] = 255;
      }
    }
  }

  show(k) {
    if (k !== this.at && !(k > this.at && k - this.at <= this.every)) {
      const base = k - k % this.every;
      this.buffer.set(this.kept[base / this.every]);
      this.at = base;
    }
    while (this.at < k) this.step(this.at + 1);
    return this.image;
  }
}

// --- a player: one figure, a still until its frames are loaded, then a canvas ------------------------
class Player {
  constructor(root) {
    this.root = root;
    this.name = root.dataset.name;
    this.labels = JSON.parse(root.dataset.labels || "[]");
    this.n = this.labels.length;
    this.at = this.n - 1;  // the still is the last frame
    this.screen = document.createElement("div");
    this.screen.className = "screen";
    this.still = new Image(+root.dataset.width, +root.dataset.height);
    this.still.src = root.dataset.still;
    this.still.alt = root.dataset.alt;
    this.still.loading = "lazy";
    this.screen.append(this.still);
    root.prepend(this.screen);
  }

  label(k) { return this.labels[Math.min(k, this.n - 1)]; }

  delay(k) { return this.frames ? Math.max(20, 10 * this.frames.frames[Math.min(k, this.n - 1)].delay) : 100; }

  load() {
    this.loaded ??= new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = this.root.dataset.frames;
      script.onerror = () => reject(new Error(`cannot load ${script.src}`));
      loading.set(script, resolve);
      document.head.append(script);
    }).then(base64 => {
      const text = atob(base64), bytes = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      this.frames = new Frames(decode(bytes));
      this.canvas = document.createElement("canvas");
      this.canvas.width = this.frames.width;
      this.canvas.height = this.frames.height;
      this.canvas.setAttribute("role", "img");
      this.canvas.setAttribute("aria-label", this.root.dataset.alt);
      this.still.replaceWith(this.canvas);
      this.show(this.at);
    }).catch(error => { this.fallBack(); throw error; });
    return this.loaded;
  }

  show(k) {
    this.at = Math.max(0, Math.min(k, this.n - 1));
    if (this.frames) this.canvas.getContext("2d").putImageData(this.frames.show(this.at), 0, 0);
  }

  fallBack() {  // frames that cannot be read: the plain GIF, as without the player
    this.still.src = this.root.dataset.gif;
    this.root.classList.add("plain");
  }
}

class Group {  // players stepped together: frame k of each (a shorter one holds its last)
  constructor(players) {
    this.players = players;
    this.longest = players.reduce((a, b) => (b.n > a.n ? b : a));
    this.n = this.longest.n;
    this.at = this.n - 1;
    this.name = players.map(p => p.name).join("+");
  }
  label(k) { return this.longest.label(k); }
  delay(k) { return this.longest.delay(k); }
  load() { return Promise.all(this.players.map(p => p.load())); }
  show(k) { this.at = Math.max(0, Math.min(k, this.n - 1)); this.players.forEach(p => p.show(this.at)); }
}

// --- the controls: buttons, slider, label, speed, loop, save, present -------------------------------
const ICONS = {
  previous: "M6 5h2v14H6zM19 5v14L9 12z", next: "M16 5h2v14h-2zM5 5v14l10-7z", play: "M7 4.5v15L19.5 12z",
  pause: "M6 5h4v14H6zm8 0h4v14h-4z", save: "M11 3h2v9.2l3.3-3.3 1.4 1.4L12 16 6.3 10.3l1.4-1.4 3.3 3.3zM5 18h14v2H5z",
  present: "M3 3h7v2H5v5H3zm11 0h7v7h-2V5h-5zM3 14h2v5h5v2H3zm16 0h2v7h-7v-2h5z",
};
const icon = name => `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="${ICONS[name]}"/></svg>`;
const SPEEDS = [0.25, 0.5, 1, 2, 4];
let presenting = null;  // the controls whose figure is presented

class Controls {
  constructor(target, root, save) {
    Object.assign(this, { target, root, playing: false, speed: 1 });
    const bar = document.createElement("div");
    bar.className = "controls";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Frames");
    bar.innerHTML = `
      <button type="button" data-do="previous" aria-label="Previous frame" title="Previous frame (←)">${icon("previous")}</button>
      <button type="button" data-do="play" aria-label="Play" title="Play (space)">${icon("play")}</button>
      <button type="button" data-do="next" aria-label="Next frame" title="Next frame (→)">${icon("next")}</button>
      <input type="range" min="0" max="${target.n - 1}" step="1" value="${target.at}" aria-label="Frame">
      <output class="where"></output>
      <span class="options">
        <select aria-label="Speed" title="Speed">${SPEEDS.map(s => `<option value="${s}"${s === 1 ? " selected" : ""}>${s}×</option>`).join("")}</select>
        <label class="loop" title="Start again after the last frame"><input type="checkbox" checked> Loop</label>
        ${save ? `<button type="button" data-do="save" aria-label="Download this frame as PNG" title="Download this frame as PNG">${icon("save")}<span>PNG</span></button>` : ""}
        <button type="button" data-do="present" aria-label="Present full screen" title="Present full screen (f; Escape leaves)">${icon("present")}</button>
      </span>`;
    root.append(bar);
    this.bar = bar;
    this.slider = bar.querySelector("input[type=range]");
    this.where = bar.querySelector(".where");
    this.loop = bar.querySelector(".loop input");
    this.playButton = bar.querySelector("[data-do=play]");
    bar.querySelector("select").addEventListener("change", e => { this.speed = +e.target.value; });
    bar.addEventListener("click", e => {
      const button = e.target.closest("button[data-do]");
      if (button) this[button.dataset.do]();
    });
    this.slider.addEventListener("input", () => this.go(+this.slider.value));
    root.addEventListener("keydown", e => this.key(e));
    const early = () => target.load().catch(() => {});  // fetch the frames as a reader comes near
    root.addEventListener("pointerenter", early, { once: true });
    root.addEventListener("focusin", early, { once: true });
    this.shown();
  }

  shown() {
    const k = this.target.at, n = this.target.n, label = this.target.label(k);
    this.slider.value = k;
    const words = `frame ${k + 1} / ${n}`;
    this.where.innerHTML = label ? `<strong></strong> · ${words}` : words;
    if (label) this.where.firstChild.textContent = label;
    this.slider.setAttribute("aria-valuetext", `${label ? `${label}, ` : ""}frame ${k + 1} of ${n}`);
  }

  async go(k) {  // show frame k (once the frames are there)
    this.target.at = Math.max(0, Math.min(k, this.target.n - 1));
    this.shown();
    try { await this.target.load(); } catch { return; }
    this.target.show(this.target.at);
    this.shown();
  }

  previous() { this.pause(); this.go(this.target.at - 1); }
  next() { this.pause(); this.go(this.target.at + 1); }

  play() {
    if (this.playing) return this.pause();
    this.playing = true;
    this.playButton.setAttribute("aria-label", "Pause");
    this.playButton.title = "Pause (space)";
    this.playButton.innerHTML = icon("pause");
    if (this.target.at >= this.target.n - 1) this.target.at = -1;
    const tick = async () => {
      if (!this.playing) return;
      const k = this.target.at + 1;
      if (k >= this.target.n && !this.loop.checked) return this.pause();
      await this.go(k % this.target.n);
      if (this.playing) this.timer = setTimeout(tick, this.target.delay(this.target.at) / this.speed);
    };
    tick();
  }

  pause() {
    this.playing = false;
    clearTimeout(this.timer);
    this.playButton.setAttribute("aria-label", "Play");
    this.playButton.title = "Play (space)";
    this.playButton.innerHTML = icon("play");
  }

  async save() {
    try { await this.target.load(); } catch { return; }
    const k = this.target.at, link = document.createElement("a");
    this.target.canvas.toBlob(blob => {
      link.href = URL.createObjectURL(blob);
      link.download = `${this.target.name}-frame-${String(k + 1).padStart(3, "0")}.png`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    }, "image/png");
  }

  present() {
    if (presenting === this) return this.leave();
    presenting?.leave();
    presenting = this;
    this.root.classList.add("presenting");
    document.documentElement.classList.add("presenting-page");
    this.bar.querySelector("[data-do=present]").setAttribute("aria-label", "Leave full screen");
    this.root.requestFullscreen?.().catch(() => {});  // refused (no gesture, an iframe): the page's own screen
    this.root.tabIndex = -1;
    this.root.focus();
    this.target.load().catch(() => {});
  }

  leave() {
    if (presenting !== this) return;
    presenting = null;
    this.root.classList.remove("presenting");
    document.documentElement.classList.remove("presenting-page");
    this.bar.querySelector("[data-do=present]").setAttribute("aria-label", "Present full screen");
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  }

  key(e) {
    const t = e.target, own = t.tagName === "SELECT" || (t.tagName === "BUTTON" || t.type === "checkbox")
      && (e.key === " " || e.key === "Enter");
    if (own || e.altKey || e.ctrlKey || e.metaKey) return;  // a control's own keys, the browser's shortcuts
    const act = { ArrowLeft: () => this.previous(), ArrowRight: () => this.next(), PageUp: () => this.previous(),
                  PageDown: () => this.next(), Home: () => { this.pause(); this.go(0); },
                  End: () => { this.pause(); this.go(this.target.n - 1); }, " ": () => this.play(),
                  f: () => this.present(), Escape: () => this.leave() }[e.key];
    if (act && (e.key !== "Escape" || presenting === this)) {
      e.preventDefault();
      act();
    }
  }
}

document.addEventListener("keydown", e => {  // while presenting, the keys step the presented figure
  if (presenting && !presenting.root.contains(e.target)) presenting.key(e);
});
document.addEventListener("fullscreenchange", () => {
  if (!document.fullscreenElement) presenting?.leave();  // the browser's own Escape left full screen
});

const supported = "ImageData" in window && !!document.createElement("canvas").getContext;
for (const group of document.querySelectorAll("[data-linked]")) {
  const players = [...group.querySelectorAll(".player[data-frames]")].map(root => new Player(root));
  if (!players.length) continue;
  if (!supported) { players.forEach(p => p.fallBack()); continue; }
  const columns = Math.ceil(Math.sqrt(players.length));
  group.style.setProperty("--columns", columns);
  group.style.setProperty("--rows", Math.ceil(players.length / columns));
  group.controls = new Controls(new Group(players), group, false);
}
for (const root of document.querySelectorAll(".player[data-frames]")) {
  if (root.closest("[data-linked]")) continue;
  const player = new Player(root);
  if (!supported) { player.fallBack(); continue; }
  root.controls = new Controls(player, root, true);
}
})();
