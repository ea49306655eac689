use super::{store_error, Fhir};
use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use crate::fhir::resource::{check_id, check_resource_type};
use crate::partition::Partition;
use crate::store::Version;

impl Fhir {
    pub async fn read(&self, p: &Partition, rt: &str, id: &str) -> FhirResult<Version> {
        check_resource_type(rt)?;
        check_id(id)?;
        match self.store.current(p, rt, id).await.map_err(store_error)? {
            None => Err(FhirError::not_found(format!("{rt}/{id} is not known"))),
            Some(v) if v.is_deleted() => Err(FhirError::new(
                ErrorKind::Gone,
                format!("{rt}/{id} was deleted (version {})", v.version),
            )),
            Some(v) => Ok(v),
        }
    }

    pub async fn vread(
        &self,
        p: &Partition,
        rt: &str,
        id: &str,
        version: &str,
    ) -> FhirResult<Version> {
        check_resource_type(rt)?;
        check_id(id)?;
        let not_found = || FhirError::not_found(format!("{rt}/{id} has no version '{version}'"));
        let n: u64 = version.parse().map_err(|_| not_found())?;
        match self
            .store
            .version(p, rt, id, n)
            .await
            .map_err(store_error)?
        {
            None => Err(not_found()),
            Some(v) if v.is_deleted() => Err(FhirError::new(
                ErrorKind::Gone,
                format!("Version {n} of {rt}/{id} is its deletion"),
            )),
            Some(v) => Ok(v),
        }
    }
}
