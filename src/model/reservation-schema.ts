// The API's JSON contract of a reservation (zod, exported to schemas/). Kept apart from the ledger so that code on
// the `numad -w` path never loads zod; the type check below keeps the two in step.
import { z } from 'zod';
import type { Reservation } from './reservations.js';

export const ReservationSchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  client: z.string(),
  request: z.object({ cpuHundredths: z.number().int().nonnegative(), memMiB: z.number().int().nonnegative() }),
  nodeset: z.string(),
  nodes: z.array(z.number().int().nonnegative()),
  perNode: z.array(
    z.object({
      node: z.number().int().nonnegative(),
      cpuHundredths: z.number().int().nonnegative(),
      memMiB: z.number().int().nonnegative(),
    }),
  ),
  /** hugepage memory of this page size (KiB), held against that pool rather than MemFree; absent: ordinary memory */
  hugepageSizeKiB: z.number().int().positive().optional(),
  /** the libvirt domain that took this answer over (bound on its STARTED event) */
  domain: z.object({ name: z.string(), uuid: z.string(), boundAt: z.string() }).optional(),
});

// Compile-time: the schema and the hand-written type describe the same object, both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesType: Same<z.infer<typeof ReservationSchema>, Reservation> = true;
void schemaMatchesType;
