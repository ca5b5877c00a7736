// A coverage contract with ten rules, the shape of a health plan's adjudication logic.
//
// Input (ABI v1 values, in order):
//   Str claim_id, Str member, Str procedure_code, Int units, Amount billed,
//   Int service_day, Int submitted_day          (days since 1970-01-01)
// Facts read:
//   coverage/<member>            -> Int start_day, Int end_day   (the benefit period)
//   member/<member>/birth_day    -> Int day
//   priorauth/<member>/<code>    -> Int valid_until_day
// State (per member and benefit period, updated only when a claim is approved):
//   ded/<member>/<start>  deductible met     paid/<member>/<start>  plan paid
//   units/<member>/<code>/<day>  units billed that day
// Output: Int decision (1 approved, 2 denied), Amount allowed, Amount plan_pays,
//   Amount patient_pays, List of Str reason codes.
import {
  input, output, fact, stateGetI64, stateSetInt, stateSetAmount, emit, Writer,
  amount, amountAdd, amountSub, amountMulInt, amountPercent, amountMin, amountMax, STATUS_OK,
} from "../../sdk/index";

const APPROVED: i64 = 1;
const DENIED: i64 = 2;

const TIMELY_FILING_DAYS: i64 = 90;
const DEDUCTIBLE: i64 = amount(500);
const COINSURANCE_BP: i64 = 2000; // the member pays 20% after the copay
const ANNUAL_MAX: i64 = amount(10000);
const MIN_AGE_SCREENING: i64 = 45;

// The fee schedule: code, allowed amount per unit, units per day, copay, prior auth needed.
class Benefit {
  constructor(
    public code: string,
    public perUnit: i64,
    public unitsPerDay: i64,
    public copay: i64,
    public priorAuth: bool,
    public minAge: i64,
  ) {}
}

const SCHEDULE: Benefit[] = [
  new Benefit("99213", amount(120), 1, amount(25), false, 0), // office visit
  new Benefit("97110", amount(45), 4, 0, false, 0), // therapeutic exercise, 15 min
  new Benefit("70553", amount(900), 1, 0, true, 0), // MRI brain
  new Benefit("G0121", amount(600), 1, 0, false, MIN_AGE_SCREENING), // screening colonoscopy
  new Benefit("27447", amount(9000), 1, 0, true, 0), // total knee replacement
];

const EXCLUDED: string[] = ["15780", "S9999"]; // dermabrasion (cosmetic), non-covered

function findBenefit(code: string): Benefit | null {
  for (let i = 0; i < SCHEDULE.length; i++) {
    if (SCHEDULE[i].code == code) return SCHEDULE[i];
  }
  return null;
}

function isExcluded(code: string): bool {
  for (let i = 0; i < EXCLUDED.length; i++) {
    if (EXCLUDED[i] == code) return true;
  }
  return false;
}

export function call(): i32 {
  const r = input();
  const claimId = r.readString();
  const member = r.readString();
  const code = r.readString();
  const units = r.readInt();
  const billed = r.readAmount();
  const serviceDay = r.readInt();
  const submittedDay = r.readInt();

  const reasons: string[] = [];

  // R01 eligibility: the service falls inside the member's coverage period.
  let periodStart: i64 = -1;
  const coverage = fact("coverage/" + member);
  if (coverage === null) {
    reasons.push("R01-NOT-ELIGIBLE");
  } else {
    periodStart = coverage.readInt();
    const periodEnd = coverage.readInt();
    if (serviceDay < periodStart || serviceDay > periodEnd) reasons.push("R01-NOT-ELIGIBLE");
  }

  // R02 timely filing.
  if (submittedDay - serviceDay > TIMELY_FILING_DAYS || submittedDay < serviceDay) {
    reasons.push("R02-UNTIMELY");
  }

  // R03 excluded services.
  if (isExcluded(code)) reasons.push("R03-EXCLUDED");

  // R04 a covered benefit (in the fee schedule), with a positive unit count.
  const benefit = findBenefit(code);
  if (benefit === null || units <= 0) {
    if (!isExcluded(code)) reasons.push("R04-NOT-A-BENEFIT");
  }

  let dayKey = "";
  if (benefit !== null && units > 0) {
    // R05 prior authorisation, a fact valid on the day of service.
    if (benefit.priorAuth) {
      const auth = fact("priorauth/" + member + "/" + code);
      if (auth === null || auth.readInt() < serviceDay) reasons.push("R05-NO-PRIOR-AUTH");
    }
    // R06 age, from the member's birth day (a fact); whole years of 365.25 days.
    if (benefit.minAge > 0) {
      const born = fact("member/" + member + "/birth_day");
      if (born === null) {
        reasons.push("R06-AGE");
      } else {
        const age = ((serviceDay - born.readInt()) * 100) / 36525;
        if (age < benefit.minAge) reasons.push("R06-AGE");
      }
    }
    // R07 units per day, counting what was already approved that day.
    dayKey = "units/" + member + "/" + code + "/" + serviceDay.toString();
    if (stateGetI64(dayKey, 0) + units > benefit.unitsPerDay) reasons.push("R07-UNIT-LIMIT");
  }

  const out = new Writer();
  if (reasons.length > 0 || benefit === null) {
    out.writeInt(DENIED).writeAmount(0).writeAmount(0).writeAmount(0);
    out.writeListLen(reasons.length);
    for (let i = 0; i < reasons.length; i++) out.writeString(reasons[i]);
    output(out);
    return STATUS_OK;
  }

  const allowed = amountMin(billed, amountMulInt(benefit.perUnit, units));

  // R08 deductible for the benefit period.
  const dedKey = "ded/" + member + "/" + periodStart.toString();
  const dedMet = stateGetI64(dedKey, 0);
  const dedApplied = amountMin(allowed, amountMax(0, amountSub(DEDUCTIBLE, dedMet)));
  if (dedApplied > 0) reasons.push("R08-DEDUCTIBLE");
  let remaining = amountSub(allowed, dedApplied);

  // R09 cost sharing: the copay, then coinsurance on the rest.
  const copay = amountMin(remaining, benefit.copay);
  if (copay > 0) reasons.push("R09-COPAY");
  remaining = amountSub(remaining, copay);
  const coinsurance = amountPercent(remaining, COINSURANCE_BP);
  if (coinsurance > 0) reasons.push("R09-COINSURANCE");
  let planPays = amountSub(remaining, coinsurance);

  // R10 the plan's annual maximum.
  const paidKey = "paid/" + member + "/" + periodStart.toString();
  const paid = stateGetI64(paidKey, 0);
  const room = amountMax(0, amountSub(ANNUAL_MAX, paid));
  if (planPays > room) {
    planPays = room;
    reasons.push("R10-ANNUAL-MAX");
  }
  const patientPays = amountSub(allowed, planPays);

  stateSetAmount(dedKey, amountAdd(dedMet, dedApplied));
  stateSetAmount(paidKey, amountAdd(paid, planPays));
  stateSetInt(dayKey, stateGetI64(dayKey, 0) + units);

  out.writeInt(APPROVED).writeAmount(allowed).writeAmount(planPays).writeAmount(patientPays);
  out.writeListLen(reasons.length);
  for (let i = 0; i < reasons.length; i++) out.writeString(reasons[i]);
  output(out);
  emit("claim.adjudicated", new Writer().writeString(claimId).writeAmount(planPays));
  return STATUS_OK;
}
