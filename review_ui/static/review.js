/* Keyboard shortcuts for the reviewer pages. Plain JS, no framework, no inline script
   (the Content-Security-Policy allows only this file).
   Item page: a approve, r reject, e escalate (both need a reason), c claim,
   j/k next/previous item, z zooms the image (drag to pan). Queue page: j/k move the selection, Enter or o opens it,
   x picks it for a bulk decision. */
(function () {
  "use strict";

  function typingIn(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function press(id) {
    var el = document.getElementById(id);
    if (el && !el.disabled) { el.click(); return true; }
    return false;
  }

  function go(url) { if (url) { window.location.assign(url); } }

  function showReasonHint() {
    var hint = document.getElementById("reason-hint");
    var select = document.getElementById("reason_code");
    if (hint) { hint.hidden = false; }
    if (select) { select.focus(); }
  }

  function decideWithReason(buttonId) {
    var select = document.getElementById("reason_code");
    if (!document.getElementById(buttonId)) return;
    if (!select || !select.value) { showReasonHint(); return; }
    press(buttonId);
  }

  function onTaskKey(ev) {
    switch (ev.key) {
      case "a": press("btn-approve"); break;
      case "r": decideWithReason("btn-reject"); break;
      case "e": decideWithReason("btn-escalate"); break;
      case "c": press("btn-claim"); break;
      case "z": toggleZoom(); break;
      case "j": go(document.body.dataset.next); break;
      case "k": go(document.body.dataset.prev); break;
      default: return;
    }
    ev.preventDefault();
  }

  function toggleZoom() {
    var frame = document.getElementById("zoom-frame");
    if (frame) { frame.classList.toggle("zoomed"); }
  }

  // Dragging a zoomed image pans the frame (scrolling it works too).
  function pannable(frame) {
    var start = null;
    frame.addEventListener("mousedown", function (ev) {
      if (!frame.classList.contains("zoomed")) return;
      start = { x: ev.clientX, y: ev.clientY, left: frame.scrollLeft, top: frame.scrollTop, moved: false };
      ev.preventDefault();
    });
    window.addEventListener("mousemove", function (ev) {
      if (!start) return;
      start.moved = start.moved || Math.abs(ev.clientX - start.x) + Math.abs(ev.clientY - start.y) > 3;
      frame.scrollLeft = start.left - (ev.clientX - start.x);
      frame.scrollTop = start.top - (ev.clientY - start.y);
    });
    window.addEventListener("mouseup", function () { setTimeout(function () { start = null; }, 0); });
    frame.addEventListener("click", function () {
      if (start && start.moved) return;  // the end of a drag, not a click
      toggleZoom();
    });
  }

  function queueRows() { return Array.prototype.slice.call(document.querySelectorAll("tr.task-row")); }

  function onQueueKey(ev) {
    var rows = queueRows();
    if (!rows.length) return;
    var index = rows.findIndex(function (row) { return row.classList.contains("selected"); });
    if (ev.key === "j" || ev.key === "k") {
      var next = ev.key === "j" ? Math.min(index + 1, rows.length - 1) : Math.max(index - 1, 0);
      rows.forEach(function (row) { row.classList.remove("selected"); });
      rows[next].classList.add("selected");
      rows[next].scrollIntoView({ block: "nearest" });
    } else if ((ev.key === "Enter" || ev.key === "o") && index >= 0) {
      go(rows[index].dataset.href);
    } else if (ev.key === "x" && index >= 0) {
      var pick = rows[index].querySelector("input.bulk-pick");
      if (pick) { pick.checked = !pick.checked; }
    } else {
      return;
    }
    ev.preventDefault();
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (typingIn(document.activeElement)) {
      if (ev.key === "Escape") { document.activeElement.blur(); }
      return;
    }
    var page = document.body.dataset.page;
    if (page === "task") { onTaskKey(ev); } else if (page === "queue") { onQueueKey(ev); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("reason_code");
    if (select) {
      // Once a reason is chosen, hand the keys back to the shortcuts.
      select.addEventListener("change", function () {
        var hint = document.getElementById("reason-hint");
        if (hint) { hint.hidden = true; }
        select.blur();
      });
    }
    var form = document.getElementById("decision-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        var button = ev.submitter;
        if (button && button.dataset.needsReason && !select.value) {
          ev.preventDefault();
          showReasonHint();
        }
      });
    }
    var frame = document.getElementById("zoom-frame");
    if (frame) { pannable(frame); }
    queueRows().forEach(function (row) {
      row.addEventListener("click", function (ev) {
        // Links go where they point; a bulk checkbox picks, it does not open the item.
        if (ev.target.tagName !== "A" && ev.target.tagName !== "INPUT") { go(row.dataset.href); }
      });
    });
  });
}());
