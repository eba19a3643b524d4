// playground.js: the playground's behaviour: models from /v1/models, a streamed chat completion, stop, the request as curl and SDK code
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  // The API lives beside this page: /api/playground talks to /api/v1/...
  const apiBase = new URL('v1/', document.baseURI);
  const KEY_ITEM = 'openai-fcgi-playground-key';  // sessionStorage: gone with the tab
  let controller = null;

  const keyInput = $('key');
  keyInput.value = sessionStorage.getItem(KEY_ITEM) || '';

  function authHeaders() {
    return { Authorization: `Bearer ${keyInput.value.trim()}` };
  }

  function setStatus(text) { $('status').textContent = text; }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  // Says what the error envelope says, with what each status adds.
  function showError(status, body, headers) {
    const e = (body && body.error) || { message: `HTTP ${status}`, type: null, param: null, code: null };
    let text = `${status} ${e.type || 'error'}${e.code ? ` (${e.code})` : ''}: ${e.message}`;
    if (status === 400 && e.param) text += `\nparam: ${e.param}`;
    if (status === 401) text += '\nCheck the API key above.';
    if (status === 429) {
      const ms = Number(headers.get('retry-after-ms'));
      const s = Number(headers.get('retry-after'));
      const wait = Number.isFinite(ms) && ms > 0 ? ms / 1000 : s;
      if (Number.isFinite(wait)) text += `\nRetry in ${wait.toFixed(wait < 10 ? 1 : 0)} s.`;
    }
    $('error').textContent = text;
    $('error').hidden = false;
  }

  async function failure(res) {
    let body = null;
    try { body = await res.json(); } catch { /* not JSON: the status says it */ }
    showError(res.status, body, res.headers);
  }

  async function loadModels() {
    if (!keyInput.value.trim()) return;
    clearError();
    let res;
    try {
      res = await fetch(new URL('models', apiBase), { headers: authHeaders() });
    } catch (err) {
      showError(0, { error: { message: String(err), type: 'network_error' } }, new Headers());
      return;
    }
    if (!res.ok) { await failure(res); return; }
    const list = await res.json();
    const select = $('model');
    const before = select.value;
    select.replaceChildren(...list.data.map((m) => new Option(m.id, m.id)));
    if (list.data.some((m) => m.id === before)) select.value = before;
    showCode();
  }

  function requestBody() {
    const messages = [];
    const system = $('system').value.trim();
    if (system) messages.push({ role: 'system', content: system });
    messages.push({ role: 'user', content: $('prompt').value });
    return { model: $('model').value, messages, stream: true };
  }

  // The request as it would be sent from elsewhere; the key stays a variable.
  function showCode() {
    const body = requestBody();
    const json = JSON.stringify(body);
    const url = new URL('chat/completions', apiBase).href;
    $('curl').textContent = `curl -N ${url} \\\n  -H "Authorization: Bearer $OPENAI_API_KEY" \\\n` +
      `  -H "Content-Type: application/json" \\\n  -d '${json.replaceAll("'", "'\\''")}'`;
    const py = (v) => JSON.stringify(v, null, 4).replace(/\btrue\b/g, 'True').replace(/\bfalse\b/g, 'False').replace(/\bnull\b/g, 'None');
    $('sdk').textContent = 'import os\nfrom openai import OpenAI\n\n' +
      `client = OpenAI(base_url="${apiBase.href.replace(/\/$/, '')}", api_key=os.environ["OPENAI_API_KEY"])\n` +
      `stream = client.chat.completions.create(\n    model=${JSON.stringify(body.model)},\n` +
      `    messages=${py(body.messages).replace(/\n/g, '\n    ')},\n    stream=True,\n)\n` +
      'for chunk in stream:\n    if chunk.choices and chunk.choices[0].delta.content:\n' +
      '        print(chunk.choices[0].delta.content, end="", flush=True)\nprint()\n';
  }

  // Reads the SSE answer and appends each delta as it comes.
  async function readStream(res, answer) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let pending = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += decoder.decode(value, { stream: true });
      let end;
      while ((end = pending.search(/\r?\n\r?\n/)) >= 0) {
        const event = pending.slice(0, end);
        pending = pending.slice(end).replace(/^\r?\n\r?\n/, '');
        const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        if (!data) continue;
        if (data === '[DONE]') return;
        const chunk = JSON.parse(data);
        if (chunk.error) { showError(500, chunk, new Headers()); return; }
        for (const c of chunk.choices || []) if (c.delta && c.delta.content) answer.append(c.delta.content);
      }
    }
  }

  async function send() {
    clearError();
    if (!$('model').value) { await loadModels(); if (!$('model').value) return; }
    const answer = $('answer');
    answer.textContent = '';
    controller = new AbortController();
    $('send').disabled = true;
    $('stop').disabled = false;
    setStatus('streaming…');
    showCode();
    try {
      const res = await fetch(new URL('chat/completions', apiBase), {
        method: 'POST',
        headers: { ...authHeaders(), 'Content-Type': 'application/json' },
        body: JSON.stringify(requestBody()),
        signal: controller.signal,
      });
      if (!res.ok) { await failure(res); setStatus(''); return; }
      await readStream(res, answer);
      setStatus('done');
    } catch (err) {
      if (err.name === 'AbortError') setStatus('stopped');
      else { showError(0, { error: { message: String(err), type: 'network_error' } }, new Headers()); setStatus(''); }
    } finally {
      controller = null;
      $('send').disabled = false;
      $('stop').disabled = true;
    }
  }

  // A change event fires again when the field loses focus: one list per key.
  let listedFor = null;
  keyInput.addEventListener('change', () => {
    const key = keyInput.value.trim();
    if (key === listedFor) return;
    listedFor = key;
    sessionStorage.setItem(KEY_ITEM, key);
    loadModels();
  });
  $('model').addEventListener('change', showCode);
  $('system').addEventListener('input', showCode);
  $('prompt').addEventListener('input', showCode);
  $('send').addEventListener('click', send);
  $('stop').addEventListener('click', () => { if (controller) controller.abort(); });
  for (const b of document.querySelectorAll('button.copy')) {
    b.addEventListener('click', () => navigator.clipboard.writeText($(b.dataset.copy).textContent));
  }
  showCode();
  if (keyInput.value.trim()) { listedFor = keyInput.value.trim(); loadModels(); }
})();
