// Small DOM helpers shared by the two panels.

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`page element #${id} is missing`);
  return e as T;
}

/** A message on the page naming the file (or step) and the problem; nothing goes to the console. */
export function showError(list: HTMLElement, source: string, e: unknown): void {
  const li = document.createElement('li');
  li.className = 'file-error';
  li.dataset.file = source;
  li.textContent = `${source}: ${e instanceof Error ? e.message : String(e)}`;
  list.append(li);
}

/** Saves text or bytes as a file through the browser's download. */
export function download(name: string, content: string | Uint8Array<ArrayBuffer>, type = 'text/csv'): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A number for display: a few significant digits, '—' when not finite. */
export function fmt(v: number, digits = 5): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : '—';
}

/** Numeric values of a form's inputs by name; empty fields are left out (the library's default). */
export function formNumbers(root: HTMLElement): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const input of root.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) {
    if (input.value.trim() === '') continue;
    out[input.name] = input instanceof HTMLInputElement && input.type === 'number' ? Number(input.value) : input.value;
  }
  return out;
}

/** Drag-and-drop onto `zone` feeds the same handler as its file input. */
export function fileDrop(zone: HTMLElement, input: HTMLInputElement, onFiles: (files: File[]) => void): void {
  input.addEventListener('change', () => {
    onFiles([...(input.files ?? [])]);
    input.value = '';
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    onFiles([...(e.dataTransfer?.files ?? [])]);
  });
}
