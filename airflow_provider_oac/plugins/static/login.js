// The "Log in to OAC" page: start a device login, show the code, poll at IAM's interval.
// Plain JavaScript, no build. Runs in Airflow's iframe (3.1+) or on its own (3.0: /oac-login/).
(() => {
  "use strict";

  // Every URL is relative to the page, so any [api] base_url prefix works.
  const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const $ = (id) => document.getElementById(id);
  const fields = ["oac_url", "iam_url", "client_id", "scope"];
  const FORBIDDEN =
    "You are not allowed to edit connections in this Airflow, so you cannot log in to OAC here. " +
    "Ask an Airflow admin to do it, or to give you the permission to edit connections (the Op or Admin role).";
  const SIGNED_OUT = "Your Airflow session has ended: reload Airflow and sign in again.";

  let useBearer = true; // Airflow 3.0 and 3.1.0 keep the UI's token in localStorage, later ones in a cookie
  let login = null; // {connId, handle, expiresAt, timer, ticker, done}

  // --- look like the surrounding Airflow UI --------------------------------------------------------
  function applyTheme() {
    let dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    try {
      if (window.parent !== window) {
        const root = window.parent.document.documentElement;
        dark = root.classList.contains("dark") || root.style.colorScheme === "dark";
      }
    } catch (e) {
      /* another origin: keep the system preference */
    }
    document.documentElement.classList.toggle("dark", Boolean(dark));
  }

  // --- talking to the plugin's routes --------------------------------------------------------------
  function storedToken() {
    try {
      return window.localStorage.getItem("token");
    } catch (e) {
      return null;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["X-OAC-Login"] = "1";
    }
    const token = storedToken();
    const send = (withBearer) =>
      fetch(base + path, {
        method,
        headers: withBearer && token ? { ...headers, Authorization: "Bearer " + token } : headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    let response;
    try {
      response = await send(useBearer);
      if (response.status === 401 && useBearer && token) {
        // A stale localStorage token: the session cookie (3.1.1+) may still be good.
        response = await send(false);
        if (response.status !== 401) useBearer = false;
      }
    } catch (e) {
      return { status: 0, ok: false, data: null, message: "The Airflow API server did not answer: check your network and try again." };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    return { status: response.status, ok: response.ok, data, message: errorMessage(response.status, data) };
  }

  function errorMessage(status, data) {
    const detail = data && data.detail;
    if (status === 401) return SIGNED_OUT;
    if (status === 403 && (!detail || detail === "Forbidden")) return FORBIDDEN;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d && d.msg) || String(d)).join("; ");
    if (status >= 500) return "The Airflow API server failed (HTTP " + status + "): see its log, then try again.";
    return "Unexpected answer (HTTP " + status + ").";
  }

  // --- showing things ------------------------------------------------------------------------------
  function alertBox(message) {
    $("alert").textContent = message || "";
    $("alert").hidden = !message;
  }

  function show(section) {
    for (const id of ["form-card", "code-card", "result-card"]) $(id).hidden = id !== section;
  }

  function when(epochSeconds) {
    // dateStyle/timeStyle cannot be combined with timeZoneName: spell the parts out.
    return new Date(epochSeconds * 1000).toLocaleString(undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    });
  }

  function duration(seconds) {
    const days = seconds / 86400;
    if (days >= 1) return (Math.round(days * 10) / 10).toString() + (days === 1 ? " day" : " days");
    return Math.round(seconds / 3600).toString() + " h";
  }

  function setFormEnabled(enabled) {
    for (const el of $("login-form").querySelectorAll("input, button")) el.disabled = !enabled;
  }

  function showStatus(text, kind) {
    const box = $("status");
    box.textContent = text;
    box.className = "status" + (kind ? " " + kind : "");
    box.hidden = !text;
  }

  // --- the connection picker and its status --------------------------------------------------------
  async function loadConnections() {
    const answer = await api("GET", "connections");
    if (!answer.ok) {
      alertBox(answer.message);
      if (answer.status === 401 || answer.status === 403) setFormEnabled(false);
      return false;
    }
    const list = $("conn-ids");
    list.textContent = "";
    for (const connId of answer.data.connection_ids) {
      const option = document.createElement("option");
      option.value = connId;
      list.appendChild(option);
    }
    return true;
  }

  async function loadStatus() {
    const connId = $("conn_id").value.trim();
    if (!connId) return showStatus("", "");
    const answer = await api("GET", "connections/" + encodeURIComponent(connId));
    if ($("conn_id").value.trim() !== connId) return; // the user typed on
    if (answer.status === 404) {
      for (const name of fields) $(name).value = "";
      return showStatus("New connection: logging in creates " + connId + ".", "");
    }
    if (!answer.ok) return showStatus(answer.message, "warn");
    const c = answer.data;
    for (const name of fields) $(name).value = c[name] || "";
    const lines = [];
    let kind = "";
    if (c.problem) {
      lines.push(c.problem);
      kind = "warn";
    } else if (c.logged_in) {
      let text = "Logged in as " + (c.subject || "an unknown user");
      if (c.login_expires_at) text += " until " + when(c.login_expires_at) + " unless a task refreshes it";
      if (c.refresh_token_lifetime) text += " (refresh-token lifetime " + duration(c.refresh_token_lifetime) + ")";
      if (c.login_at) text += "; logged in " + when(c.login_at);
      lines.push(text + ".");
      kind = c.login_expires_at && c.login_expires_at * 1000 < Date.now() ? "warn" : "ok";
    } else {
      lines.push("Not logged in: this connection holds no refresh token.");
    }
    if (c.shadowed_by) {
      lines.push("Warning: " + c.shadowed_by + " also defines " + connId + " and hides this connection from tasks.");
      kind = "warn";
    }
    showStatus(lines.join(" "), kind);
  }

  // --- the device login ----------------------------------------------------------------------------
  async function start(event) {
    event.preventDefault();
    alertBox("");
    const connId = $("conn_id").value.trim();
    if (!connId) return alertBox("Enter a connection id, e.g. oac_default.");
    const body = {};
    for (const name of fields) body[name] = $(name).value.trim() || null;
    $("login-button").disabled = true;
    $("login-button").textContent = "Asking IAM…";
    const answer = await api("POST", "connections/" + encodeURIComponent(connId) + "/start", body);
    $("login-button").disabled = false;
    $("login-button").textContent = "Log in";
    if (!answer.ok) return alertBox(answer.message);
    const a = answer.data;
    login = {
      connId,
      handle: a.handle,
      expiresAt: Date.now() + a.expires_in * 1000,
      timer: null,
      ticker: null,
      done: false,
    };
    $("user-code").textContent = a.user_code;
    link($("verification-uri"), a.verification_uri);
    $("complete").hidden = !a.verification_uri_complete;
    if (a.verification_uri_complete) link($("verification-uri-complete"), a.verification_uri_complete);
    $("qr").innerHTML = a.qr_svg || ""; // our own SVG (rects only), built by the server
    $("qr").hidden = !a.qr_svg;
    $("qr-hint").hidden = !a.qr_svg;
    $("popup-hint").hidden = true;
    $("settings-warning").textContent = a.warning ? "Warning: " + a.warning : "";
    $("settings-warning").hidden = !a.warning;
    $("poll-note").textContent = "Waiting for approval…";
    show("code-card");
    tick();
    login.ticker = window.setInterval(tick, 1000);
    schedule(a.interval);
  }

  function link(anchor, url) {
    anchor.href = url;
    anchor.textContent = url;
  }

  function tick() {
    if (!login) return;
    const left = Math.max(0, Math.round((login.expiresAt - Date.now()) / 1000));
    const m = Math.floor(left / 60);
    const s = String(left % 60).padStart(2, "0");
    $("countdown").textContent = left > 0 ? "The code expires in " + m + ":" + s : "The code has expired.";
    // The server answers "expired" without asking IAM once the deadline has passed.
    if (left === 0 && !login.done && login.timer !== null) {
      window.clearTimeout(login.timer);
      login.timer = null;
      poll();
    }
  }

  function schedule(seconds) {
    if (!login || login.done) return;
    login.timer = window.setTimeout(poll, Math.max(1, seconds) * 1000);
  }

  async function poll() {
    if (!login || login.done) return;
    const current = login;
    current.timer = null;
    const answer = await api("POST", "connections/" + encodeURIComponent(current.connId) + "/poll", {
      handle: current.handle,
    });
    if (current !== login || current.done) return; // cancelled meanwhile
    if (!answer.ok) {
      if (answer.status === 0 || answer.status >= 500) {
        $("poll-note").textContent = answer.message + " Retrying…";
        return schedule(10);
      }
      return finish("failed", "The login stopped", answer.message, "");
    }
    const a = answer.data;
    if (a.status === "pending") {
      current.handle = a.handle;
      $("poll-note").textContent = a.warning
        ? a.warning
        : a.slowed_down
          ? "IAM asked to poll less often; still waiting for approval…"
          : "Waiting for approval…";
      return schedule(a.retry_in || 5);
    }
    if (a.status === "done") {
      return finish("ok", "Logged in", a.message, a.warning || "", a);
    }
    const titles = { denied: "The login was declined", expired: "The code expired", failed: "The login failed" };
    return finish("failed", titles[a.status] || "The login failed", a.message, "");
  }

  function finish(kind, title, message, warning, result) {
    if (login) {
      login.done = true;
      if (login.timer !== null) window.clearTimeout(login.timer);
      window.clearInterval(login.ticker);
    }
    const card = $("result-card");
    card.className = "card " + kind;
    $("result-title").textContent = title;
    $("result-message").textContent = message;
    $("result-warning").textContent = warning;
    $("result-warning").hidden = !warning;
    $("result-advice").textContent =
      kind === "ok"
        ? (result && result.created ? "Created" : "Updated") +
          " connection " + login.connId + ". Tasks using it refresh the login from now on; earlier stored tokens were discarded."
        : "Nothing was changed. If IAM is unreachable from the Airflow API server, run airflow-oac login on a host that can reach it.";
    show("result-card");
    loadStatus();
  }

  function cancel() {
    if (login) {
      login.done = true;
      if (login.timer !== null) window.clearTimeout(login.timer);
      window.clearInterval(login.ticker);
    }
    login = null;
    show("form-card");
  }

  // Airflow's frame may forbid new tabs (no allow-popups): then say how to open the page.
  function openLink(event) {
    const opened = window.open(event.currentTarget.href, "_blank");
    event.preventDefault();
    if (opened) {
      opened.opener = null;
    } else {
      $("popup-hint").hidden = false;
    }
  }

  async function copy(text, button) {
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (e) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      try {
        copied = document.execCommand("copy");
      } catch (e2) {
        copied = false;
      }
      area.remove();
    }
    const label = button.textContent;
    button.textContent = copied ? "Copied" : "Select and copy it";
    window.setTimeout(() => (button.textContent = label), 1500);
  }

  // --- wiring --------------------------------------------------------------------------------------
  applyTheme();
  $("login-form").addEventListener("submit", start);
  $("conn_id").addEventListener("change", loadStatus);
  $("cancel").addEventListener("click", cancel);
  $("again").addEventListener("click", () => {
    login = null;
    alertBox("");
    show("form-card");
  });
  for (const id of ["verification-uri", "verification-uri-complete"]) $(id).addEventListener("click", openLink);
  $("copy-code").addEventListener("click", (e) => copy($("user-code").textContent, e.currentTarget));
  $("copy-uri").addEventListener("click", (e) => copy($("verification-uri").textContent, e.currentTarget));
  $("copy-complete").addEventListener("click", (e) => copy($("verification-uri-complete").textContent, e.currentTarget));
  const requested = new URLSearchParams(location.search).get("conn_id");
  if (requested) $("conn_id").value = requested;
  loadConnections().then((allowed) => {
    if (allowed) loadStatus();
  });
})();
