// Weights loaded one decoder layer at a time, for passes that run every sequence through a
// layer before the next (lib/calib/imatrix.ts): asking for a weight of another layer (or of
// the embedding, final norm or head, each a group of its own) lets go of the group held and
// loads that one, so memory holds one layer's weights however many layers the model has. The
// let-go group is freed at once (ops.dispose: a synchronous pass never gives the collector's
// finalizers a turn) and its mapped pages are dropped from the process (ops.dropPages), since
// a mapped file's pages would otherwise stay resident until the whole file is unmapped.
import type { Ops, Tensor, Weight } from '../backend/ops.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { entriesToLoad, loadGroup, type LoadWeightsOptions } from './loadWeights.js';
import { ModelWeights } from './model.js';
import type { ModelTable, TensorEntry } from './table.js';

export class StreamedWeights extends ModelWeights {
  private readonly groupOf = new Map<string, string>();
  private readonly groups = new Map<string, TensorEntry[]>();
  private held: { key: string; raw: Tensor[] } | null = null;
  private readonly names = new Map<Weight, string>();
  private readonly onLoad: ((group: string) => void) | undefined;
  /** Groups loaded so far, counting reloads (a pass reads the model once). */
  loads = 0;

  constructor(private readonly ckpt: Checkpoint, table: ModelTable, private readonly ops: Ops, opts: LoadWeightsOptions & { onLoad?: (group: string) => void } = {}) {
    super(new Map());
    for (const e of entriesToLoad(table, opts)) {
      const key = e.layer === null ? e.name : `layer ${e.layer}`;
      this.groupOf.set(e.name, key);
      const g = this.groups.get(key);
      if (g) g.push(e);
      else this.groups.set(key, [e]);
    }
    this.onLoad = opts.onLoad;
  }

  override get holdsAllLayers(): boolean {
    return false;
  }

  override get(name: string): Weight {
    this.hold(name);
    return super.get(name);
  }

  override opt(name: string): Weight | undefined {
    this.hold(name);
    return super.opt(name);
  }

  /** The table name of a weight held now. */
  nameOf(w: Weight): string | undefined {
    return this.names.get(w);
  }

  /** The group a weight belongs to ("layer N", or its own name), or undefined if the table has no such weight. */
  groupFor(name: string): string | undefined {
    return this.groupOf.get(name);
  }

  /** Lets go of the group held. */
  release(): void {
    if (!this.held) return;
    this.ops.dispose?.(this.all());
    this.map.clear();
    this.names.clear();
    this.ops.dropPages?.(this.held.raw);
    this.held = null;
  }

  private hold(name: string): void {
    const key = this.groupOf.get(name);
    if (key === undefined || this.held?.key === key) return;
    this.release();
    const { weights, raw } = loadGroup(this.ckpt, this.groups.get(key)!, this.ops);
    for (const [n, w] of weights) {
      this.map.set(n, w);
      this.names.set(w, n);
    }
    this.held = { key, raw };
    this.loads++;
    this.onLoad?.(key);
  }
}
