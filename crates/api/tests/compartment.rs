//! The ledger's policy and the FHIR layer must agree on which types are in the Patient
//! compartment: the ledger keeps the list as a constant (it may not read files), the FHIR
//! crate derives it from HL7's `CompartmentDefinition-patient`.

#[test]
fn the_ledger_and_hl7s_compartment_definition_agree() {
    let from_hl7 = medledger_fhir::compartment::compartment_types();
    assert_eq!(from_hl7, medledger_ledger::consent::policy::COMPARTMENT_TYPES.to_vec());
}
