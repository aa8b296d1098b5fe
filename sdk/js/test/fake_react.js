// Just enough of React to run the React example's component in Node: useState, useEffect (run once
// after the first render, cleaned up on unmount), useRef, and JSX elements as plain objects. Every
// state change renders again, synchronously. Tests read the tree and call its event handlers.

let current = null;

export function useState(initial) {
  const instance = current;
  const index = instance.cursor++;
  if (!(index in instance.hooks)) instance.hooks[index] = typeof initial === "function" ? initial() : initial;
  const set = (value) => {
    instance.hooks[index] = typeof value === "function" ? value(instance.hooks[index]) : value;
    if (instance.mounted) instance.render();
  };
  return [instance.hooks[index], set];
}

export function useRef(initial) {
  const instance = current;
  const index = instance.cursor++;
  if (!(index in instance.hooks)) instance.hooks[index] = { current: initial };
  return instance.hooks[index];
}

export function useEffect(effect) {
  const instance = current;
  const index = instance.cursor++;
  if (!(index in instance.hooks)) {
    instance.hooks[index] = true;
    instance.pending.push(effect); // deps are [] in the example: once, after mounting
  }
}

export function jsx(type, props) {
  return { type, props: props || {} };
}

export const jsxs = jsx;
export const Fragment = "fragment";

export function mount(Component) {
  const instance = {
    hooks: [], cursor: 0, pending: [], cleanups: [], mounted: true, tree: null,
    render() {
      current = instance;
      instance.cursor = 0;
      instance.tree = Component({});
      current = null;
      for (const effect of instance.pending.splice(0)) {
        const cleanup = effect();
        if (typeof cleanup === "function") instance.cleanups.push(cleanup);
      }
    },
  };
  instance.render();
  return {
    get tree() {
      return instance.tree;
    },
    unmount() {
      instance.mounted = false;
      for (const cleanup of instance.cleanups.splice(0)) cleanup();
    },
  };
}

/** Every element of `type` in the tree, depth first. */
export function findAll(node, type, found = []) {
  if (Array.isArray(node)) {
    for (const child of node) findAll(child, type, found);
  } else if (node && typeof node === "object" && "type" in node) {
    if (node.type === type) found.push(node);
    findAll(node.props.children, type, found);
  }
  return found;
}

export function textOf(node) {
  if (node === null || node === undefined || typeof node === "boolean") return "";
  if (typeof node !== "object") return String(node);
  if (Array.isArray(node)) return node.map(textOf).join("");
  return textOf(node.props.children);
}
