/// <reference lib="dom" />
/** Small DOM helpers: elements are built with text content only, never from HTML strings. */

type Child = Node | string | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number> = {},
): SVGElementTagNameMap[K] {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/** Tells screen readers something changed (the page's polite live region). */
export function announce(message: string): void {
  const live = document.getElementById('live');
  if (live !== null) live.textContent = message;
}

/** Asks for confirmation in a modal dialog; resolves to the button's value, or undefined. */
export function confirmDialog(
  title: string,
  body: Node,
  actions: readonly { readonly label: string; readonly value: string; readonly danger?: boolean }[],
): Promise<string | undefined> {
  const dialog = el('dialog', { 'aria-labelledby': 'dialog-title', class: 'confirm' });
  const form = el('form', { method: 'dialog' });
  form.append(
    el('h2', { id: 'dialog-title' }, title),
    body,
    el(
      'div',
      { class: 'actions' },
      el('button', { value: '', type: 'submit' }, 'Cancel'),
      ...actions.map((a) =>
        el(
          'button',
          { value: a.value, type: 'submit', class: a.danger === true ? 'danger' : undefined },
          a.label,
        ),
      ),
    ),
  );
  dialog.append(form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const value = dialog.returnValue;
      dialog.remove();
      resolve(value === '' ? undefined : value);
    });
    dialog.showModal();
  });
}
