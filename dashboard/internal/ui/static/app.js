// Copy-to-clipboard buttons: <button data-copy="text">. Falls back to
// selecting a hidden textarea when the Clipboard API is unavailable.
document.addEventListener('click', function (e) {
  var b = e.target.closest('[data-copy]');
  if (!b) return;
  e.preventDefault();
  var text = b.getAttribute('data-copy');
  var done = function () { b.textContent = 'Copied'; b.setAttribute('data-copied', text); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
  } else { fallback(text); done(); }
});
function fallback(text) {
  var t = document.createElement('textarea');
  t.value = text; document.body.appendChild(t); t.select();
  try { document.execCommand('copy'); } catch (err) {}
  document.body.removeChild(t);
}
// Bulk selection on the commission list.
document.addEventListener('change', function (e) {
  if (e.target.id === 'select-all') {
    document.querySelectorAll('input[name=ids]').forEach(function (c) { c.checked = e.target.checked; });
  }
});
// Forms with data-confirm="question" ask before they submit (the CSP
// forbids inline onsubmit handlers): turning a link off, for one.
document.addEventListener('submit', function (e) {
  var f = e.target;
  var q = f && f.getAttribute && f.getAttribute('data-confirm');
  if (q && !window.confirm(q)) e.preventDefault();
});
