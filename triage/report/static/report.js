// An evidence link names a step: open its <details> too, not only scroll to it.
function openLinkedStep() {
  var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
}
window.addEventListener("hashchange", openLinkedStep);
openLinkedStep();
