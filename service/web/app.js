// samtrack web page: open an input, click objects and see SAM's mask at
// once, start a tracking job and watch it. Plain JS against /api/v1, no
// dependencies. The flow: input -> frame -> prompts per object ->
// POST /api/v1/segment per click -> POST /api/v1/jobs -> SSE progress and
// the live overlay -> results.zip.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324'];
  const TERMINAL = ['done', 'failed', 'canceled'];
  const OBJECT_EVENTS = ['appeared', 'lost', 'returned'];
  const LIVE_EVENTS = ['connected', 'disconnected', 'connect_failed', 'reconnected', 'ended'];
  const MASK_ALPHA = 120;

  const st = {
    input: '', live: false, frame: 0, frames: 0, width: 0, height: 0, frameSeq: 0,
    objects: [], sel: null, // objects: {id, color, frame, points: [[x,y,label]], box, mask, area, seq}
    drag: null,
    job: null, // {id, total, es, poll}
  };

  // ---- API helpers -------------------------------------------------------

  const token = () => $('token').value.trim();

  // mediaURL builds a URL for <img>, EventSource and links, which cannot send
  // an Authorization header: the token travels as ?access_token=.
  function mediaURL(path, params = {}) {
    const q = new URLSearchParams(params);
    if (token()) q.set('access_token', token());
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  }

  function headers(json) {
    const h = {};
    if (token()) h.Authorization = `Bearer ${token()}`;
    if (json) h['Content-Type'] = 'application/json';
    return h;
  }

  // apiError turns a failed response into an Error carrying the API's message.
  async function apiError(method, path, res) {
    const text = await res.text();
    let msg = text.trim() || res.statusText;
    try { const d = JSON.parse(text); msg = d.error || d.message || msg; } catch { /* not JSON */ }
    return new Error(`${method} ${path}: ${res.status} ${msg}`);
  }

  async function send(method, path, body, params) {
    const form = body instanceof FormData;
    let res;
    try {
      res = await fetch(params ? mediaURL(path, params) : path, {
        method, headers: headers(body !== undefined && !form),
        body: body === undefined || form ? body : JSON.stringify(body),
      });
    } catch (e) {
      throw new Error(`${method} ${path}: the server did not answer (${e.message})`);
    }
    if (!res.ok) throw await apiError(method, path, res);
    return res;
  }

  async function api(method, path, body, params) {
    const text = await (await send(method, path, body, params)).text();
    return text ? JSON.parse(text) : null;
  }

  // ---- status and errors ------------------------------------------------

  function showError(err) {
    const el = $('error');
    el.textContent = err instanceof Error ? err.message : String(err);
    el.hidden = false;
    console.error(err);
  }
  const clearError = () => { $('error').hidden = true; };
  const setStatus = (s) => { $('status').textContent = s; };

  // guard runs an async UI action and shows its error.
  const guard = (fn) => (...args) => fn(...args).catch(showError);

  // ---- input and frame --------------------------------------------------

  async function loadFileList() {
    try {
      const d = await api('GET', '/api/v1/inputs');
      const files = Array.isArray(d) ? d : (d && d.files) || [];
      $('files').replaceChildren(...files.map((f) => {
        const o = document.createElement('option');
        o.value = typeof f === 'string' ? f : f.path;
        return o;
      }));
      const dirs = (d && d.allow_dirs) || [];
      $('allowdirs').textContent = dirs.length
        ? `Files the server may open: inside ${dirs.join(', ')}, or an upload.`
        : 'The server opens no files by path (no --allow-dir): upload a file or give a stream URL.';
    } catch { /* optional endpoint: typing a path still works */ }
  }

  async function openInput() {
    const input = $('input').value.trim();
    if (!input) throw new Error('Type a video path inside the server\'s allowed directories, an rtsp:// URL, or upload a file.');
    clearError();
    const prev = { input: st.input, live: st.live, frames: st.frames, frame: st.frame, objects: st.objects, sel: st.sel };
    Object.assign(st, { input, live: /^rtsps?:\/\//i.test(input), frames: 0, frame: 0, objects: [], sel: null });
    try {
      await showFrame(0);
    } catch (e) {
      Object.assign(st, prev); // keep what was open
      renderObjects();
      throw e;
    }
    $('framepick').hidden = st.live;
    newObject();
  }

  async function showFrame(n) {
    if (!st.input) throw new Error('Open an input first.');
    n = Math.max(0, Math.floor(Number(n) || 0));
    if (st.frames > 0) n = Math.min(n, st.frames - 1);
    const seq = ++st.frameSeq;
    setStatus(`loading frame ${n}…`);
    const res = await send('GET', '/api/v1/frame.jpg', undefined, { input: st.input, frame: n, ...(st.live ? { refresh: 1 } : {}) });
    const count = Number(res.headers.get('X-Frame-Count')) || 0;
    const bmp = await createImageBitmap(await res.blob());
    if (seq !== st.frameSeq) return; // a newer frame was asked for meanwhile
    if (count > 0) st.frames = count;
    st.frame = n;
    st.width = bmp.width;
    st.height = bmp.height;
    for (const c of [$('framecanvas'), $('overlay')]) { c.width = bmp.width; c.height = bmp.height; }
    $('framecanvas').getContext('2d').drawImage(bmp, 0, 0);
    bmp.close();
    $('frame').value = n;
    $('frameslider').max = Math.max(0, st.frames - 1);
    $('frameslider').value = n;
    $('frameslider').hidden = st.frames <= 1;
    $('frameinfo').textContent = st.frames > 0 ? `of ${st.frames} · ${st.width}×${st.height}` : `${st.width}×${st.height}`;
    showStage(true);
    redraw();
    setStatus(`frame ${n} of ${st.input}`);
  }

  function showStage(on) {
    $('stage').hidden = !on;
    $('live').hidden = on;
    $('placeholder').hidden = true;
    renderObjects();
  }

  // ---- objects ----------------------------------------------------------

  function newObject() {
    const id = st.objects.reduce((m, o) => Math.max(m, o.id), 0) + 1;
    const o = { id, color: COLORS[(id - 1) % COLORS.length], frame: st.frame, points: [], box: null, mask: null, area: 0, seq: 0 };
    st.objects.push(o);
    st.sel = o;
    renderObjects();
    redraw();
  }

  function renderObjects() {
    $('objlist').replaceChildren(...st.objects.map((o) => {
      const li = document.createElement('li');
      li.dataset.id = o.id;
      li.className = o === st.sel ? 'selected' : '';
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = o.color;
      const name = document.createElement('span');
      name.textContent = `object ${o.id}`;
      const info = document.createElement('span');
      info.className = 'info muted';
      const n = o.points.length + (o.box ? 1 : 0);
      const what = [o.points.length ? `${o.points.length} pt` : '', o.box ? 'box' : ''].filter(Boolean).join(' + ');
      info.textContent = n === 0 ? 'no prompt' : `frame ${o.frame} · ${what} · ${o.area} px`;
      li.append(sw, name, info);
      li.onclick = () => { st.sel = o; renderObjects(); if (o.frame !== st.frame && n > 0) guard(showFrame)(o.frame); };
      return li;
    }));
    $('track').disabled = !st.input || !st.objects.some(hasPrompt) || Boolean(st.job && !st.job.finished);
    $('viewtitle').textContent = !$('stage').hidden
      ? `Frame ${st.frame}: click to prompt object ${st.sel ? st.sel.id : '(new)'}`
      : st.job ? `Live overlay: job ${st.job.id}` : 'Frame';
  }

  const hasPrompt = (o) => o.points.length > 0 || o.box !== null;

  // promptOf is one object of pipeline.Prompts.
  function promptOf(o) {
    const p = { id: o.id, frame: o.frame };
    if (o.points.length) p.points = o.points;
    if (o.box) p.box = o.box;
    return p;
  }

  function addPrompt(o, f) {
    if (o.frame !== st.frame && hasPrompt(o)) { o.points = []; o.box = null; } // prompts live on one frame
    o.frame = st.frame;
    f(o);
    guard(segment)(o);
  }

  async function segment(o) {
    const seq = ++o.seq;
    if (!hasPrompt(o)) { o.mask = null; o.area = 0; renderObjects(); redraw(); return; }
    setStatus(`segmenting object ${o.id}…`);
    const t0 = performance.now();
    const doc = await api('POST', '/api/v1/segment', { input: st.input, frame: o.frame, prompts: { objects: [promptOf(o)] } });
    if (seq !== o.seq) return; // a newer click superseded this answer
    const ann = pickAnnotation(doc, o.id);
    const seg = ann && ann.segmentation;
    if (!seg) throw new Error('POST /api/v1/segment: the answer holds no segmentation');
    o.mask = decodeRLE(seg);
    o.area = o.mask.area;
    clearError();
    renderObjects();
    redraw();
    setStatus(`object ${o.id}: mask of ${o.area} px in ${Math.round(performance.now() - t0)} ms${doc.segmenter ? ` (${doc.segmenter})` : ''}` +
      (ann.warning ? `; warning: ${ann.warning}` : ''));
  }

  // pickAnnotation is the answer's annotation for object id.
  function pickAnnotation(doc, id) {
    if (!doc) return null;
    const anns = doc.annotations || [];
    return anns.find((x) => x.id === id) || anns[0] || null;
  }

  // decodeRLE expands COCO's compressed RLE ({size: [h, w], counts: "..."},
  // column-major runs starting with 0s) to a row-major 0/1 array, as
  // pycocotools' rleFrString and rleDecode do (see mask/rle.go).
  function decodeRLE({ size: [h, w], counts }) {
    if (typeof counts !== 'string') throw new Error('segmentation.counts: want COCO compressed RLE (a string)');
    const runs = [];
    for (let p = 0; p < counts.length;) {
      let x = 0, k = 0, more = true, c = 0;
      while (more) {
        if (p >= counts.length) throw new Error('segmentation.counts: truncated RLE string');
        c = counts.charCodeAt(p++) - 48;
        x += (c & 0x1f) * 2 ** (5 * k);
        more = (c & 0x20) !== 0;
        k++;
      }
      if (c & 0x10) x -= 2 ** (5 * k); // sign bit of the last group
      if (runs.length > 2) x += runs[runs.length - 2];
      runs.push(x);
    }
    const bits = new Uint8Array(w * h);
    let t = 0, area = 0;
    runs.forEach((n, j) => {
      if (j % 2 === 1) {
        for (let i = t; i < t + n; i++) bits[(i % h) * w + Math.floor(i / h)] = 1;
        area += n;
      }
      t += n;
    });
    if (t !== w * h) throw new Error(`segmentation: RLE covers ${t} pixels, size says ${w}×${h}`);
    return { w, h, bits, area };
  }

  // ---- drawing ----------------------------------------------------------

  function rgb(hex) {
    const v = parseInt(hex.slice(1), 16);
    return [v >> 16, (v >> 8) & 255, v & 255];
  }

  function redraw() {
    const c = $('overlay');
    const g = c.getContext('2d');
    g.clearRect(0, 0, c.width, c.height);
    if (!c.width) return;
    const img = g.createImageData(c.width, c.height);
    let pixels = 0;
    for (const o of st.objects) {
      if (!o.mask || o.frame !== st.frame || o.mask.w !== c.width || o.mask.h !== c.height) continue;
      const [r, gr, b] = rgb(o.color);
      const { bits } = o.mask;
      for (let i = 0; i < bits.length; i++) {
        if (!bits[i]) continue;
        img.data.set([r, gr, b, MASK_ALPHA], i * 4);
        pixels++;
      }
    }
    g.putImageData(img, 0, 0);
    c.dataset.maskPixels = pixels;
    for (const o of st.objects) {
      if (o.frame !== st.frame) continue;
      g.lineWidth = o === st.sel ? 3 : 2;
      if (o.box) {
        g.strokeStyle = o.color;
        g.setLineDash([6, 4]);
        g.strokeRect(o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1]);
        g.setLineDash([]);
      }
      for (const [x, y, label] of o.points) {
        g.beginPath();
        g.arc(x, y, 5, 0, 2 * Math.PI);
        g.fillStyle = label ? '#22c55e' : '#ef4444';
        g.fill();
        g.strokeStyle = '#fff';
        g.stroke();
      }
    }
    if (st.drag && st.drag.moved) {
      const d = st.drag;
      g.strokeStyle = st.sel ? st.sel.color : '#fff';
      g.setLineDash([6, 4]);
      g.strokeRect(d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
      g.setLineDash([]);
    }
  }

  // imagePoint maps a pointer event to frame pixels (the canvas is scaled by CSS).
  function imagePoint(e) {
    const c = $('overlay');
    const r = c.getBoundingClientRect();
    return [
      Math.round(Math.min(Math.max((e.clientX - r.left) * c.width / r.width, 0), c.width - 1)),
      Math.round(Math.min(Math.max((e.clientY - r.top) * c.height / r.height, 0), c.height - 1)),
    ];
  }

  function onPointerDown(e) {
    if (!st.sel) newObject();
    const [x, y] = imagePoint(e);
    st.drag = { x0: x, y0: y, x1: x, y1: y, moved: false, negative: e.shiftKey || e.button === 2 };
    e.target.setPointerCapture(e.pointerId);
  }

  function onPointerMove(e) {
    const d = st.drag;
    if (!d) return;
    [d.x1, d.y1] = imagePoint(e);
    d.moved = d.moved || Math.hypot(d.x1 - d.x0, d.y1 - d.y0) > 6;
    if (d.moved) redraw();
  }

  function onPointerUp(e) {
    const d = st.drag;
    if (!d) return;
    st.drag = null;
    [d.x1, d.y1] = imagePoint(e);
    if (d.moved) {
      const box = [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1), Math.max(d.y0, d.y1)];
      addPrompt(st.sel, (o) => { o.box = box; });
    } else {
      addPrompt(st.sel, (o) => { o.points.push([d.x0, d.y0, d.negative ? 0 : 1]); });
    }
    redraw();
  }

  // ---- tracking ---------------------------------------------------------

  async function startTracking() {
    const objs = st.objects.filter(hasPrompt);
    if (!objs.length) throw new Error('Click on an object first: tracking needs at least one prompt.');
    stopWatching();
    const d = await api('POST', '/api/v1/jobs', { input: st.input, prompts: { objects: objs.map(promptOf) }, options: {} });
    if (!d || d.id === undefined) throw new Error('POST /api/v1/jobs: the answer holds no job id');
    clearError();
    watchJob(String(d.id), st.frames);
    loadJobs();
  }

  function watchJob(id, total) {
    stopWatching();
    const job = { id, total: total || 0, done: 0, fps: 0, state: 'queued', es: null, poll: 0, frames: 0, refreshing: false, finished: false };
    st.job = job;
    $('progresswrap').hidden = false;
    $('results').hidden = true;
    $('events').replaceChildren();
    $('cancel').hidden = false;
    updateProgress();

    // The live overlay is the MJPEG stream; should it fail (or end early),
    // the page refreshes frame.jpg instead.
    const live = $('live');
    const refresh = (ms) => setTimeout(() => {
      if (st.job === job && !job.finished) live.src = mediaURL(`/api/v1/jobs/${id}/frame.jpg`, { t: Date.now() });
    }, ms);
    live.onload = () => {
      job.frames++;
      live.dataset.frames = job.frames;
      if (job.refreshing) refresh(300);
    };
    live.onerror = () => { job.refreshing = true; refresh(500); };
    live.dataset.frames = 0;
    live.src = mediaURL(`/api/v1/jobs/${id}/live.mjpeg`);
    showStage(false);
    setStatus(`job ${id}: live overlay`);

    job.es = new EventSource(mediaURL(`/api/v1/jobs/${id}/events`));
    const onEvent = (ev) => {
      if (typeof ev.data !== 'string') return; // a connection error, not a message
      let d;
      try { d = JSON.parse(ev.data); } catch { return; }
      if (st.job === job) onJobEvent(job, ev.type, d);
    };
    for (const name of ['message', 'progress', 'state', 'appeared', 'lost', 'returned', ...LIVE_EVENTS]) {
      job.es.addEventListener(name, onEvent);
    }
    // The status endpoint backs SSE up (and gives the final state should the
    // stream end without one).
    job.poll = setInterval(guard(async () => {
      if (st.job !== job) return;
      onJobEvent(job, 'status', await api('GET', `/api/v1/jobs/${id}`));
      loadJobs();
    }), 2000);
  }

  function onJobEvent(job, type, d) {
    if (!d || typeof d !== 'object' || job.finished) return;
    const total = d.total || d.total_frames;
    if (total > 0) job.total = total;
    if (typeof d.frames_done === 'number') job.done = Math.max(job.done, d.frames_done);
    if (typeof d.fps === 'number') job.fps = d.fps;
    if (OBJECT_EVENTS.includes(type)) logEvent(`frame ${d.frame}: object ${d.id} ${type}`);
    if (LIVE_EVENTS.includes(type)) logEvent(`stream ${type.replace('_', ' ')}${d.error || d.reason ? `: ${d.error || d.reason}` : ''}`);
    if (d.state) job.state = d.state;
    else if (job.state === 'queued' && job.done > 0) job.state = 'running';
    updateProgress();
    if (TERMINAL.includes(job.state)) finishJob(job, d.error);
  }

  function logEvent(text) {
    const li = document.createElement('li');
    li.textContent = text;
    $('events').prepend(li);
    while ($('events').children.length > 200) $('events').lastChild.remove();
  }

  function updateProgress() {
    const job = st.job;
    const p = $('progress');
    p.dataset.state = job.state;
    if (job.total > 0) {
      p.max = job.total;
      p.value = job.state === 'done' ? job.total : Math.min(job.done, job.total);
    } else if (job.state === 'done') {
      p.max = 1; p.value = 1;
    } else {
      p.removeAttribute('value'); // indeterminate: the frame count is unknown (live input)
    }
    const of = job.total > 0 ? ` / ${job.total}` : '';
    $('progresstext').textContent = `job ${job.id} · ${job.state} · ${job.done}${of} frames · ${job.fps.toFixed(1)} fps`;
  }

  function finishJob(job, error) {
    if (job.finished) return;
    job.finished = true;
    if (job.es) job.es.close();
    clearInterval(job.poll);
    $('cancel').hidden = true;
    renderObjects();
    const live = $('live');
    live.onerror = null;
    job.refreshing = false;
    live.src = mediaURL(`/api/v1/jobs/${job.id}/frame.jpg`, { t: Date.now() }); // the last overlay; ends the MJPEG stream
    if (job.state === 'done') {
      const a = $('results');
      a.href = mediaURL(`/api/v1/jobs/${job.id}/results.zip`);
      a.download = `samtrack-${job.id}.zip`;
      a.hidden = false;
      setStatus(`job ${job.id} done: ${job.done} frames`);
    } else if (job.state === 'failed') {
      showError(`job ${job.id} failed: ${error || 'no reason given'}`);
    } else {
      setStatus(`job ${job.id} ${job.state}`);
    }
    loadJobs();
  }

  function stopWatching() {
    const job = st.job;
    if (!job) return;
    if (job.es) job.es.close();
    clearInterval(job.poll);
    st.job = null;
    renderObjects();
  }

  async function cancelJob() {
    const job = st.job;
    if (!job) return;
    await send('POST', `/api/v1/jobs/${job.id}/cancel`);
    job.state = 'canceled';
    updateProgress();
    finishJob(job);
  }

  // ---- jobs table -------------------------------------------------------

  async function loadJobs() {
    let d;
    try { d = await api('GET', '/api/v1/jobs'); } catch (e) { showError(e); return; }
    const jobs = (Array.isArray(d) ? d : (d && d.jobs) || [])
      .sort((a, b) => String(b.created || '').localeCompare(String(a.created || ''))); // newest first
    $('joblist').replaceChildren(...jobs.map((j) => {
      const tr = document.createElement('tr');
      const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.append(td); return td; };
      cell(j.id);
      cell(j.input || '', 'input').title = j.input || '';
      const state = cell(j.state || '', 'state');
      if (j.error && (j.state === 'failed' || j.state === 'canceled')) {
        const why = document.createElement('div');
        why.className = 'reason';
        why.textContent = j.error;
        state.append(why);
      }
      cell(j.frames_done ?? '');
      const act = cell('', 'actions');
      const btn = (label, fn) => { const b = document.createElement('button'); b.className = 'small'; b.textContent = label; b.onclick = guard(fn); act.append(b); };
      if (j.state === 'done') {
        const a = document.createElement('a');
        a.href = mediaURL(j.remove ? `/api/v1/jobs/${j.id}/removed.mp4` : `/api/v1/jobs/${j.id}/results.zip`);
        a.textContent = j.remove ? 'removed.mp4' : 'results.zip';
        a.className = j.remove ? 'removed' : 'results';
        act.append(a);
        if (!j.remove && !j.live) btn('remove', async () => removeObjects(String(j.id)));
      }
      if ((j.state === 'failed' || j.state === 'canceled') && !j.live) {
        // runs again from its last finished frame (POST .../retry)
        btn('retry', async () => {
          await send('POST', `/api/v1/jobs/${j.id}/retry`);
          setStatus(`job ${j.id} queued again`);
          if (!j.remove) watchJob(String(j.id), j.total_frames || j.total || 0);
          loadJobs();
        });
      }
      if (!j.remove) btn('watch', async () => watchJob(String(j.id), j.total_frames || j.total || 0));
      btn('delete', async () => {
        await send('DELETE', `/api/v1/jobs/${j.id}`);
        if (st.job && st.job.id === String(j.id)) stopWatching();
        loadJobs();
      });
      return tr;
    }));
  }

  // removeObjects starts a remove job on a finished tracking job (every
  // object it tracked) and refreshes the job list until it ends.
  async function removeObjects(id) {
    const r = await api('POST', `/api/v1/jobs/${id}/remove`, {});
    setStatus(`job ${r.id}: removing the objects of job ${id}`);
    loadJobs();
    const poll = setInterval(async () => {
      let v;
      try { v = await api('GET', `/api/v1/jobs/${r.id}`); } catch (e) { clearInterval(poll); showError(e); return; }
      if (['done', 'failed', 'canceled'].includes(v.state)) {
        clearInterval(poll);
        if (v.state === 'failed') showError(`job ${r.id} failed: ${v.error || 'no reason given'}`);
        else setStatus(`job ${r.id} ${v.state}: ${v.frames_done} frames`);
        loadJobs();
      }
    }, 1000);
  }

  // ---- upload -----------------------------------------------------------

  async function upload() {
    const f = $('upload').files[0];
    if (!f) return;
    const form = new FormData();
    form.append('file', f);
    setStatus(`uploading ${f.name}…`);
    const d = await api('POST', '/api/v1/uploads', form);
    const input = d && (d.input || (d.id ? `upload:${d.id}` : ''));
    if (!input) throw new Error('POST /api/v1/uploads: the answer holds no id');
    $('input').value = input;
    await openInput();
  }

  // ---- wiring -----------------------------------------------------------

  $('token').value = localStorage.getItem('samtrack.token') || '';
  $('token').onchange = () => { localStorage.setItem('samtrack.token', token()); loadJobs(); loadFileList(); };
  $('open').onclick = guard(openInput);
  $('input').onkeydown = (e) => { if (e.key === 'Enter') guard(openInput)(); };
  $('upload').onchange = guard(upload);
  $('frame').onchange = () => guard(showFrame)($('frame').value);
  $('frameslider').onchange = () => guard(showFrame)($('frameslider').value);
  $('newobj').onclick = () => { if (st.input) newObject(); };
  $('clearobj').onclick = () => { if (st.sel) { st.sel.points = []; st.sel.box = null; guard(segment)(st.sel); } };
  $('delobj').onclick = () => {
    st.objects = st.objects.filter((o) => o !== st.sel);
    st.sel = st.objects[st.objects.length - 1] || null;
    renderObjects();
    redraw();
  };
  $('track').onclick = guard(startTracking);
  $('cancel').onclick = guard(cancelJob);
  $('refreshjobs').onclick = () => loadJobs();
  $('error').onclick = clearError;
  const ov = $('overlay');
  ov.addEventListener('contextmenu', (e) => e.preventDefault());
  ov.addEventListener('pointerdown', onPointerDown);
  ov.addEventListener('pointermove', onPointerMove);
  ov.addEventListener('pointerup', onPointerUp);
  renderObjects();
  loadFileList();
  loadJobs();
  window.samtrack = { decodeRLE }; // for the browser test
})();
