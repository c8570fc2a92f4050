// Parla panel: the page of a live call. Reads the call's server-sent
// events (GET /api/v1/tenants/{tid}/calls/{id}/events, with the session
// cookie) and appends each new transcript line as it is final; shows the
// conversation's state; hides the hang-up button once the call has ended.
(function () {
  "use strict";
  var box = document.getElementById("transcript");
  var url = box && box.getAttribute("data-events");
  if (!url || !window.EventSource) {
    return;
  }
  var list = box.querySelector("ol.transcript");
  var empty = box.querySelector("p.muted");
  var state = document.getElementById("live-state");
  // Lines already rendered from the record (the stream starts with them).
  var rendered = list.children.length;
  var seen = 0;
  // As the page's own times: "12.3 s".
  var clock = function (ms) {
    return Math.floor(ms / 1000) + "." + Math.floor((ms % 1000) / 100) + " s";
  };
  var label = function (speaker) {
    return box.getAttribute("data-" + speaker) || speaker;
  };
  var events = new EventSource(url);
  events.addEventListener("transcript", function (e) {
    seen += 1;
    if (seen <= rendered) {
      return;
    }
    var turn = JSON.parse(e.data).turn;
    var li = document.createElement("li");
    li.className = "turn " + (turn.speaker === "caller" ? "caller" : "agent");
    var head = document.createElement("div");
    head.className = "turn-head";
    var who = document.createElement("strong");
    who.textContent = label(turn.speaker);
    var when = document.createElement("span");
    when.className = "muted small";
    when.textContent = clock(turn.start_ms) + " – " + clock(turn.end_ms);
    head.appendChild(who);
    head.appendChild(document.createTextNode(" "));
    head.appendChild(when);
    var text = document.createElement("div");
    text.className = "turn-text";
    text.textContent = turn.text;
    li.appendChild(head);
    li.appendChild(text);
    list.appendChild(li);
    if (empty) {
      empty.hidden = true;
    }
  });
  events.addEventListener("state", function (e) {
    if (state) {
      state.textContent = JSON.parse(e.data).state.replace(/_/g, " ");
    }
  });
  events.addEventListener("ended", function () {
    events.close();
    if (state) {
      state.textContent = "ended";
    }
    var hangup = document.getElementById("hangup");
    if (hangup) {
      hangup.hidden = true;
    }
  });
})();
