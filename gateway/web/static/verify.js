// Drag and drop for the /verify form; the form itself works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("file-input");
  const name = document.getElementById("file-name");
  const form = document.getElementById("verify-form");
  if (!zone || !input || !form) {
    return;
  }
  const showName = () => {
    name.textContent = input.files && input.files.length ? input.files[0].name : "";
  };
  input.addEventListener("change", showName);
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!event.dataTransfer || !event.dataTransfer.files.length) {
      return;
    }
    input.files = event.dataTransfer.files;
    showName();
    form.requestSubmit();
  });
});
