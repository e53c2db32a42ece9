// The liaison's inbox (templates/funds/inbox.html): htmx polls the pending rows; this notices
// the rows the page had not shown yet and announces them: in the live region, in the title
// until the liaison comes back to the tab, with a short sound unless switched off (kept in
// localStorage, generated with the Web Audio API: no media file) and, where the user allowed
// it, with the browser's notification.
(function () {
  "use strict";
  var SOUND_KEY = "casetracker.inbox.sound";
  var seen = {};
  var audio = null;
  var alerts, sound, desktop, desktopState, live;

  function rows() {
    return document.querySelectorAll("#inbox-rows tr[data-instruction-id]");
  }

  function soundOn() {
    try { return window.localStorage.getItem(SOUND_KEY) !== "off"; } catch (e) { return true; }
  }

  // Browsers let a page start audio only after the user interacted with it: the context is
  // made (or resumed) on the first click or key press, then reused.
  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context || !soundOn()) { return; }
    if (!audio) { audio = new Context(); }
    if (audio.state === "suspended" && audio.resume) { audio.resume(); }
  }

  function chime(urgent) {
    if (!soundOn() || !audio) { return; }
    var notes = urgent ? [880, 660, 880] : [660];
    var at = audio.currentTime;
    notes.forEach(function (frequency, index) {
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at + index * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.3, at + index * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + index * 0.18 + 0.16);
      oscillator.connect(gain);
      gain.connect(audio.destination);
      oscillator.start(at + index * 0.18);
      oscillator.stop(at + index * 0.18 + 0.17);
    });
  }

  function showDesktopState() {
    if (!("Notification" in window)) { desktop.hidden = true; return; }
    var permission = window.Notification.permission;
    desktop.hidden = permission !== "default";
    desktopState.textContent = permission === "granted" ? alerts.dataset.desktopOn
      : permission === "denied" ? alerts.dataset.desktopBlocked : "";
  }

  function toDesktop(title, body, tag) {
    if (!("Notification" in window) || window.Notification.permission !== "granted") { return; }
    try {
      var note = new window.Notification(title, { body: body, tag: tag });
      note.onclick = function () { window.focus(); note.close(); };
    } catch (e) {
      // Some browsers allow notifications only from a service worker: the page still says it.
    }
  }

  function announce(fresh) {
    var stops = fresh.filter(function (row) { return row.dataset.kind === "stop_payment"; });
    var first = stops[0] || fresh[0];
    var title = stops.length ? alerts.dataset.titleStop : alerts.dataset.titleOther;
    // Stop-payments first: they are the ones that cannot wait.
    var others = fresh.filter(function (row) { return row.dataset.kind !== "stop_payment"; });
    var text = stops.concat(others).map(function (row) { return row.dataset.announce; }).join(" ");
    live.textContent = text;
    if (window.Casetracker && window.Casetracker.title) { window.Casetracker.title.alert(title); }
    chime(stops.length > 0);
    toDesktop(title, text, "instruction-" + first.dataset.instructionId);
  }

  function scan(tell) {
    var fresh = [];
    Array.prototype.forEach.call(rows(), function (row) {
      var id = row.dataset.instructionId;
      if (!seen[id]) { seen[id] = true; fresh.push(row); }
    });
    if (tell && fresh.length) { announce(fresh); }
  }

  function back() {
    if (document.visibilityState === "visible" && window.Casetracker && window.Casetracker.title) {
      window.Casetracker.title.alert("");
    }
  }

  function start() {
    alerts = document.getElementById("inbox-alerts");
    live = document.getElementById("inbox-announce");
    if (!alerts || !live) { return; }
    sound = document.getElementById("inbox-sound");
    desktop = document.getElementById("inbox-desktop");
    desktopState = document.getElementById("inbox-desktop-state");
    sound.checked = soundOn();
    sound.addEventListener("change", function () {
      try { window.localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off"); } catch (e) { /* private mode */ }
      if (sound.checked) { unlockAudio(); }
    });
    desktop.addEventListener("click", function () {
      var asked = window.Notification.requestPermission(showDesktopState);
      if (asked && asked.then) { asked.then(showDesktopState); }
    });
    showDesktopState();
    ["pointerdown", "keydown"].forEach(function (name) {
      document.addEventListener(name, unlockAudio, { capture: true });
      document.addEventListener(name, back, { capture: true });
    });
    window.addEventListener("focus", back);
    document.addEventListener("visibilitychange", back);
    scan(false);
    document.body.addEventListener("htmx:afterSettle", function () { scan(true); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
