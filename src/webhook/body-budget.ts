// The per-replica budget for request body bytes held in memory: bodies being
// received, and reviews read but not yet answered. When a new chunk would go
// over it, the largest bodies still being received are refused first (they
// are what a stalled-body attack holds), so a small review from the API server
// still fits while an attacker's big ones are shed. A review that waits for its
// namespace's labels holds its parsed body, which takes many times the body's
// bytes (up to ~20x for a body of empty objects): it holds that much here while
// it waits, or does not wait (admission-endpoint.ts).

export interface BodyCharge {
  /** Bytes this request holds against the budget. */
  bytes: number;
  /** Refuses the request while its body is being received (the budget then frees its bytes). */
  evict(): void;
}

export interface BodyBudget {
  readonly limitBytes: number;
  /** Bytes currently held by all requests. */
  inUse(): number;
  /** Adds `bytes` to `charge`, first evicting larger bodies still being received; false when `charge` itself is the largest and must go. */
  add(charge: BodyCharge, bytes: number): boolean;
  /** The body is complete (or refused): it can no longer be evicted, its bytes stay held until release. */
  received(charge: BodyCharge): void;
  /** Adds `bytes` to a received `charge` if they fit without evicting anything; false (nothing added) when they do not. */
  hold(charge: BodyCharge, bytes: number): boolean;
  /** Frees everything `charge` holds; safe to call more than once. */
  release(charge: BodyCharge): void;
}

export function createBodyBudget(limitBytes: number): BodyBudget {
  let inUse = 0;
  const receiving = new Set<BodyCharge>();

  const release = (charge: BodyCharge) => {
    inUse -= charge.bytes;
    charge.bytes = 0;
    receiving.delete(charge);
  };

  return {
    limitBytes,
    inUse: () => inUse,
    add(charge, bytes) {
      while (inUse + bytes > limitBytes) {
        // Linear in the requests receiving a body, and only when over the budget.
        let largest: BodyCharge | undefined;
        for (const other of receiving) if (other !== charge && (largest === undefined || other.bytes > largest.bytes)) largest = other;
        if (largest === undefined || largest.bytes <= charge.bytes + bytes) return false;
        largest.evict();
        release(largest);
      }
      inUse += bytes;
      charge.bytes += bytes;
      receiving.add(charge);
      return true;
    },
    received(charge) {
      receiving.delete(charge);
    },
    hold(charge, bytes) {
      if (inUse + bytes > limitBytes) return false;
      inUse += bytes;
      charge.bytes += bytes;
      return true;
    },
    release,
  };
}
