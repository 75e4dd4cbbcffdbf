/**
 * The few DOM types the page uses, declared here instead of pulling TypeScript's "dom" lib into the
 * project's single tsconfig (that lib changes global types such as fetch's BodyInit for every Node
 * file). Only what main.ts calls; the browser provides the real objects.
 */
export interface PageEvent {
  preventDefault(): void;
  /** For keydown. */
  readonly key?: string;
  readonly target?: { readonly tagName?: string } | null;
}

export interface PageEventTarget {
  addEventListener(type: string, listener: (event: PageEvent) => void): void;
}

export interface PageElement extends PageEventTarget {
  className: string;
  textContent: string | null;
  hidden: boolean;
  readonly dataset: Record<string, string | undefined>;
  readonly style: { gridColumn: string; margin: string };
  readonly classList: { add(name: string): void; remove(name: string): void };
  append(...nodes: (PageNode | string)[]): void;
  replaceChildren(...nodes: (PageNode | string)[]): void;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  scrollIntoView(options?: { block?: 'start' | 'center' | 'end' | 'nearest' }): void;
  focus(): void;
}

/** A node as an opaque value (text nodes and elements). */
export type PageNode = PageElement | { readonly nodeType: number };

export interface PageControl extends PageElement {
  disabled: boolean;
  value: string;
  checked: boolean;
  type: string;
  name: string;
}

export interface PageDocument extends PageEventTarget {
  getElementById(id: string): PageElement | null;
  createElement(tag: string): PageControl;
  createTextNode(text: string): PageNode;
}

export interface PageFormData {
  get(name: string): unknown;
}

interface PageGlobals {
  document: PageDocument;
  FormData: new (form: PageElement) => PageFormData;
}

const g = globalThis as unknown as PageGlobals;
export const doc: PageDocument = g.document;
export const formData = (form: PageElement): PageFormData => new g.FormData(form);
