// Form helpers the back office's sections share.

/** Shows text in an error element (hidden when empty), marking the input it describes. */
export function showError(el, text) {
  el.textContent = text;
  el.hidden = !text;
  const input = el.id && document.querySelector(`[aria-describedby~="${el.id}"]`);
  if (input) {
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}
