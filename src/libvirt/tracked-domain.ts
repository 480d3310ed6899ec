// A running libvirt domain as numadvisor knows it: what libvirt says (definition, live NUMA tuning, recorded numad
// answer, pins) and what its QEMU process looks like. The daemon's DomainTracker keeps these; the domain mover
// (apply/) and the API read them. Only the record lives here, below apply/ and server/ which read it: the tracking
// (binding reservations, reading /proc) is the daemon's, not the RPC client's.
import type { DomainSpec } from './domain-xml.js';

export interface TrackedDomain {
  name: string;
  uuid: string;
  id: number;
  spec: DomainSpec;
  /** live NUMA mode and nodeset (GetNumaParameters LIVE) */
  numaMode: string | undefined;
  nodeset: number[];
  pid: number | undefined;
  vcpuTids: Record<string, number>;
  /** IOThread id → thread id, from the thread names QEMU gives them (`IO iothread<N>`; libvirt.md §3) */
  iothreadTids: Record<string, number>;
  /**
   * thread id → its cgroup (the v1 cpuset path where cpuset is a v1 controller, else the v2 path), read from
   * /proc/<tid>/cgroup, never guessed
   */
  cgroups: Record<string, string>;
  /** pins an administrator made: in the XML at start, or announced by a TUNABLE event we did not cause */
  adminPins: { vcpus: number[]; emulator: boolean; iothreads: number[] };
  /** the numad answer libvirt recorded in the status XML (`<numad nodeset=…>`; placement='auto'), when readable */
  numadNodeset?: number[] | undefined;
  reservationId: string | undefined;
  excluded: boolean;
  seenAt: string;
}

/** Whoever changes pins through libvirt announces each first, so its TUNABLE event is not taken for an administrator's. */
export interface TunableAnnouncer {
  expectTunable(uuid: string, field: string): void;
}
