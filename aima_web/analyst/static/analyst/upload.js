// The upload page (aima_web/analyst/templates/analyst/upload.html): hash the chosen
// file, send it in chunks to the resumable uploads API (aima_web/uploads/api.py),
// submit the job, then follow it until it ends. Plain ES2020, no library, no build.
"use strict";

// ---------------------------------------------------------------- SHA-256
// crypto.subtle.digest takes the whole file at once: a large video would have to sit
// in memory. This one is fed a slice at a time (FIPS 180-4).
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const ror = (x, n) => (x >>> n) | (x << (32 - n));

class Sha256 {
  constructor() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.w = new Uint32Array(64);
    this.rest = new Uint8Array(64); // bytes waiting for a whole 64-byte block
    this.restLength = 0;
    this.length = 0; // bytes fed so far
  }

  update(data) {
    let at = 0;
    this.length += data.length;
    if (this.restLength) {
      at = Math.min(64 - this.restLength, data.length);
      this.rest.set(data.subarray(0, at), this.restLength);
      this.restLength += at;
      if (this.restLength < 64) return;
      this.block(this.rest, 0);
      this.restLength = 0;
    }
    for (; at + 64 <= data.length; at += 64) this.block(data, at);
    this.rest.set(data.subarray(at), 0);
    this.restLength = data.length - at;
  }

  block(d, o) {
    const w = this.w;
    for (let t = 0; t < 16; t++, o += 4) w[t] = (d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3];
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15], y = w[t - 2];
      w[t] = w[t - 16] + (ror(x, 7) ^ ror(x, 18) ^ (x >>> 3)) + w[t - 7] + (ror(y, 17) ^ ror(y, 19) ^ (y >>> 10));
    }
    const H = this.h;
    let a = H[0], b = H[1], c = H[2], d_ = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (let t = 0; t < 64; t++) {
      const t1 = (h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
      const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d_ + t1) | 0; d_ = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d_; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }

  hex() {
    const bits = this.length * 8; // as two 32-bit halves: files pass 512 MB
    const padding = new Uint8Array((this.restLength < 56 ? 64 : 128) - this.restLength);
    padding[0] = 0x80;
    const view = new DataView(padding.buffer);
    view.setUint32(padding.length - 8, Math.floor(bits / 0x100000000));
    view.setUint32(padding.length - 4, bits >>> 0);
    this.update(padding);
    return Array.from(this.h, (word) => word.toString(16).padStart(8, "0")).join("");
  }
}

// ---------------------------------------------------------------- the page
const CHUNK_BYTES = 8 * 1024 * 1024; // small enough that the bar moves, at most chunk_bytes
const HASH_SLICE_BYTES = 8 * 1024 * 1024;
const MAX_RETRIES = 8;
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function megabytes(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1073741824) return `${(bytes / 1048576).toFixed(1)} MB`;
  return `${(bytes / 1073741824).toFixed(2)} GB`;
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// The API's 4xx body as one line naming each field: {"size": ["..."]} -> "size: ...".
function describeErrors(body, status) {
  if (!body || typeof body !== "object") return `The server answered ${status}.`;
  const parts = Object.entries(body).map(([field, problem]) => {
    const text = Array.isArray(problem) ? problem.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ")
      : typeof problem === "string" ? problem : JSON.stringify(problem);
    return field === "detail" || field === "non_field_errors" ? text : `${field}: ${text}`;
  });
  return parts.join("; ") || `The server answered ${status}.`;
}

class Refused extends Error {}

async function api(method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "Accept": "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new Refused(describeErrors(answer, response.status));
  return answer;
}

function formatEta(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const left = Math.max(Math.round(seconds), 0);
  const hours = Math.floor(left / 3600), minutes = Math.floor((left % 3600) / 60), secs = left % 60;
  if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  if (minutes) return `${minutes} min ${String(secs).padStart(2, "0")} s`;
  return `${secs} s`;
}

class UploadPage {
  constructor(form) {
    this.form = form;
    this.maxBytes = Number(form.dataset.maxBytes);
    this.uploadsUrl = form.dataset.uploadsUrl;
    this.jobsUrl = form.dataset.jobsUrl;
    this.jobPages = form.dataset.jobPages;
    this.terminal = new Set(form.dataset.terminal.split(" "));
    this.unplaced = new Set(form.dataset.unplaced.split(" "));
    this.file = null;
    this.finished = null; // {file, id}: an upload done whose job was not yet accepted
    this.bar = $("upload-progress");
    form.addEventListener("submit", (event) => { event.preventDefault(); this.start(); });
    $("media").addEventListener("change", () => this.choose($("media").files[0] || null));
    const zone = $("dropzone");
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      const files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) this.choose(files[0]);
    });
  }

  choose(file) {
    this.file = file;
    this.error("");
    $("chosen").textContent = file ? `${file.name}, ${megabytes(file.size)}` : "";
    if (file) this.tooLarge(file);
  }

  tooLarge(file) {
    if (file.size <= this.maxBytes) return false;
    this.error(`size: ${file.name} has ${megabytes(file.size)}, more than the limit of ${megabytes(this.maxBytes)}.`);
    return true;
  }

  error(text) {
    $("upload-error").textContent = text;
    $("upload-error").hidden = !text;
  }

  status(text, percent) {
    $("upload-status").textContent = text;
    if (percent !== undefined) this.bar.value = Math.min(Math.max(percent, 0), 100);
  }

  async start() {
    const file = this.file;
    this.error("");
    if (!file) return this.error("media: choose a file or drop one on the field above.");
    if (file.size === 0) return this.error(`size: ${file.name} is empty.`);
    if (this.tooLarge(file)) return undefined;
    $("start").disabled = true;
    try {
      const uploadId = this.finished && this.finished.file === file ? this.finished.id : await this.upload(file);
      this.finished = { file, id: uploadId };
      this.status("Uploaded and verified. Submitting the job…", 100);
      const job = await api("POST", this.jobsUrl, this.jobRequest(uploadId));
      this.finished = null;
      this.status("Submitted: the job is followed below.", 100);
      await this.follow(job);
    } catch (problem) {
      this.error(problem instanceof Refused ? problem.message : `The upload stopped: ${problem.message}`);
      this.status("", undefined);
    } finally {
      $("start").disabled = false;
    }
    return undefined;
  }

  jobRequest(uploadId) {
    const analyses = Array.from(this.form.querySelectorAll('input[name="analyses"]:checked'), (box) => box.value);
    const request = { upload: uploadId, confidentiality: $("confidentiality").value, urgency: $("urgency").value, analyses };
    // The field holds the browser's wall-clock time; the API wants a moment with its zone.
    if ($("deadline").value) request.deadline = new Date($("deadline").value).toISOString();
    return request;
  }

  async sha256(file) {
    const hash = new Sha256();
    for (let at = 0; at < file.size; at += HASH_SLICE_BYTES) {
      const slice = await file.slice(at, at + HASH_SLICE_BYTES).arrayBuffer();
      hash.update(new Uint8Array(slice));
      const done = Math.min(at + HASH_SLICE_BYTES, file.size);
      this.status(`Checking the file (SHA-256): ${Math.floor((done / file.size) * 100)} %`, (done / file.size) * 100);
    }
    return hash.hex();
  }

  // The whole resumable upload; returns the finished upload's id.
  async upload(file) {
    const sha256 = await this.sha256(file);
    this.status("Starting the upload…", 0);
    const upload = await api("POST", this.uploadsUrl, { filename: file.name, size: file.size, sha256 });
    const url = `${this.uploadsUrl}${upload.id}/`;
    const chunk = Math.min(CHUNK_BYTES, upload.chunk_bytes || CHUNK_BYTES);
    let offset = upload.offset || 0;
    let failures = 0;
    while (offset < file.size) {
      const answer = await this.send(url, file, offset, Math.min(offset + chunk, file.size)).catch(() => null);
      if (answer && answer.status === 204) {
        offset = Number(answer.offset);
        failures = 0;
        continue;
      }
      if (answer && answer.status === 409) { // the server holds other bytes than we thought
        offset = Number(answer.body && answer.body.offset !== undefined ? answer.body.offset : answer.offset);
        if (++failures > MAX_RETRIES) throw new Error("the server and the page disagree on the offset");
        continue;
      }
      if (answer && answer.status < 500) throw new Refused(describeErrors(answer.body, answer.status));
      // A dropped connection or a server error: wait, ask where the upload stands, go on.
      if (++failures > MAX_RETRIES) throw new Error(`no answer after ${MAX_RETRIES} tries; try again later`);
      const wait = Math.min(1000 * 2 ** (failures - 1), 30000);
      this.status(`The connection dropped; trying again in ${Math.round(wait / 1000)} s (try ${failures} of ${MAX_RETRIES})…`);
      await sleep(wait);
      offset = await this.standing(url).catch(() => offset);
    }
    return upload.id;
  }

  // One chunk [from, to) by XMLHttpRequest, whose upload events move the bar.
  send(url, file, from, to) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("PATCH", url);
      request.setRequestHeader("Upload-Offset", String(from));
      request.setRequestHeader("Content-Type", "application/offset+octet-stream");
      request.setRequestHeader("X-CSRFToken", csrfToken());
      request.upload.addEventListener("progress", (event) => {
        const sent = from + event.loaded;
        this.status(`Uploading: ${megabytes(sent)} of ${megabytes(file.size)}`, (sent / file.size) * 100);
      });
      request.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(request.responseText); } catch (ignored) { body = null; }
        resolve({ status: request.status, offset: request.getResponseHeader("Upload-Offset"), body });
      });
      for (const ended of ["error", "abort", "timeout"]) {
        request.addEventListener(ended, () => reject(new Error(`the connection failed (${ended})`)));
      }
      request.send(file.slice(from, to));
    });
  }

  async standing(url) {
    const response = await fetch(url, { method: "HEAD", credentials: "same-origin", cache: "no-store" });
    const offset = response.headers.get("Upload-Offset");
    if (!response.ok || offset === null) throw new Error(`HEAD answered ${response.status}`);
    return Number(offset);
  }

  // Poll the job every second until it ends; then offer its report.
  async follow(job) {
    $("job").hidden = false;
    $("job-link").href = `${this.jobPages}${job.id}/`;
    $("report-link").hidden = true;
    for (;;) {
      this.show(job);
      if (this.terminal.has(job.state)) break;
      await sleep(POLL_MS);
      try {
        job = await api("GET", `${this.jobsUrl}${job.id}/`);
      } catch (problem) {
        this.status(`Could not ask for the job: ${problem.message}; asking again.`);
      }
    }
    if (job.state === "succeeded" || (job.progress && job.progress.done > 0)) {
      $("report-link").href = `${this.jobsUrl}${job.id}/report/?format=html`;
      $("report-link").hidden = false;
    }
  }

  show(job) {
    const state = $("job-state");
    state.textContent = job.state;
    state.className = `state state-${job.state}`;
    let placement = this.unplaced.has(job.state) ? "Not placed yet: the media is checked first."
      : ((job.placement && job.placement.reason) || "");
    if (job.state === "queued" && job.wait_reason) placement = `${placement} Waiting: ${job.wait_reason}`.trim();
    $("job-placement").textContent = placement;
    const progress = job.progress || { fraction: 0, done: 0, total: 0, eta_seconds: null };
    $("job-progress").value = Math.min(Math.floor(progress.fraction * 100), 100);
    $("job-done").textContent = `${progress.done} of ${progress.total} analysis-segments, ${Math.floor(progress.fraction * 100)} %`;
    $("job-eta").textContent = this.terminal.has(job.state) ? "-" : formatEta(progress.eta_seconds);
    $("job-error").textContent = job.error || "";
    $("job-error").hidden = !job.error;
  }
}

if (typeof document !== "undefined") {
  document.addEventListener("DOMContentLoaded", () => {
    const form = $("upload-form");
    if (form) new UploadPage(form);
  });
}

// For checking the hash under Node (`require`); a browser has no module and skips this.
if (typeof module !== "undefined") module.exports = { Sha256, describeErrors, formatEta };
