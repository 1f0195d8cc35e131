/**
 * The document's nodes seen as a graph: which nodes each one refers to, whether a hook's state leads back to
 * its own instance (which cannot be rebuilt: the instance must exist before the state that contains it), and
 * the depth-first walk that rebuilds nodes. All iterative, so a graph 100,000 levels deep needs no deep stack.
 */
import {
  type DocNode,
  type DocProps,
  type DocValue,
  propKeys,
  propValue,
  refOf,
} from './format.js';

/** Indices of the nodes a node refers to, in document order. */
export function childrenOf(node: DocNode): number[] {
  const children: number[] = [];
  const add = (value: DocValue): void => {
    const ref = refOf(value);
    if (ref !== undefined) {
      children.push(ref);
    }
  };
  const addProps = (props: DocProps | undefined): void => {
    if (props !== undefined) {
      for (const key of propKeys(props)) {
        add(propValue(props, key) as DocValue);
      }
    }
  };
  switch (node.type) {
    case 'object':
    case 'null-prototype':
    case 'instance':
      addProps(node.props);
      break;
    case 'hook':
      add(node.state);
      break;
    case 'array':
      node.items?.forEach(add);
      node.entries?.forEach(([, value]) => add(value));
      addProps(node.props);
      break;
    case 'map':
      node.entries.forEach(([key, value]) => {
        add(key);
        add(value);
      });
      addProps(node.props);
      break;
    case 'set':
      node.values.forEach(add);
      addProps(node.props);
      break;
    case 'date':
      addProps(node.props);
      break;
    case 'regexp':
      add(node.lastIndex);
      addProps(node.props);
      break;
    case 'boxed':
      add(node.value);
      break;
    case 'binary':
      break;
  }
  return children;
}

/**
 * The lowest-numbered hook node that can reach itself through its state (so lies on a cycle), or `undefined`.
 * Tarjan's strongly connected components, with an explicit stack; skipped when there is no hook node at all.
 */
export function findHookOnCycle(nodes: readonly DocNode[]): number | undefined {
  if (!nodes.some((node) => node.type === 'hook')) {
    return undefined;
  }
  const count = nodes.length;
  const order = new Int32Array(count).fill(-1);
  const low = new Int32Array(count);
  const onStack = new Uint8Array(count);
  const componentStack: number[] = [];
  let next = 0;
  let found: number | undefined;

  const closeComponent = (rootIndex: number, rootKids: readonly number[]): void => {
    const members: number[] = [];
    let member: number | undefined;
    do {
      member = componentStack.pop();
      if (member === undefined) break;
      onStack[member] = 0;
      members.push(member);
    } while (member !== rootIndex);
    const onCycle = members.length > 1 || rootKids.includes(rootIndex);
    for (const index of onCycle ? members : []) {
      if (nodes[index]?.type === 'hook' && (found === undefined || index < found)) {
        found = index;
      }
    }
  };

  for (let start = 0; start < count; start += 1) {
    if (order[start] !== -1) continue;
    const frames: { index: number; kids: readonly number[]; next: number }[] = [];
    const open = (index: number): void => {
      order[index] = low[index] = next++;
      componentStack.push(index);
      onStack[index] = 1;
      frames.push({ index, kids: childrenOf(nodes[index] as DocNode), next: 0 });
    };
    open(start);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as {
        index: number;
        kids: readonly number[];
        next: number;
      };
      if (frame.next < frame.kids.length) {
        const kid = frame.kids[frame.next++] as number;
        if (order[kid] === -1) {
          open(kid);
        } else if (onStack[kid] === 1) {
          low[frame.index] = Math.min(low[frame.index] as number, order[kid] as number);
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) {
        low[parent.index] = Math.min(low[parent.index] as number, low[frame.index] as number);
      }
      if (low[frame.index] === order[frame.index]) {
        closeComponent(frame.index, frame.kids);
      }
    }
  }
  return found;
}

/**
 * Depth-first walk from `root`: `enter` when a node is first reached, `leave` once everything it refers to
 * has been left (or is still being walked, i.e. on a cycle). Nodes not reachable from the root are skipped.
 * `childrenOf` is asked once per node, when it is entered.
 */
export function walkDepthFirst(
  root: number,
  nodeCount: number,
  childrenOf: (index: number) => readonly number[],
  enter: (index: number) => void,
  leave: (index: number) => void,
): void {
  const visited = new Uint8Array(nodeCount);
  const stackNodes: number[] = [root];
  const stackKids: (readonly number[])[] = [];
  const stackNext: number[] = [0];
  visited[root] = 1;
  enter(root);
  stackKids.push(childrenOf(root));
  while (stackNodes.length > 0) {
    const top = stackNodes.length - 1;
    const kids = stackKids[top] as readonly number[];
    const next = stackNext[top] as number;
    if (next < kids.length) {
      stackNext[top] = next + 1;
      const kid = kids[next] as number;
      if (visited[kid] === 0) {
        visited[kid] = 1;
        enter(kid);
        stackNodes.push(kid);
        stackKids.push(childrenOf(kid));
        stackNext.push(0);
      }
      continue;
    }
    const finished = stackNodes.pop() as number;
    stackKids.pop();
    stackNext.pop();
    leave(finished);
  }
}
