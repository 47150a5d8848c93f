//! `chatport handoff <user>`: hand a WhatsApp conversation to a person in Creatio (flow C1).
//!
//! The request is stored in the service's outbox (the `[store] path` of the configuration) as a
//! `C1.manual` row; a running `chatport serve` on that store picks it up, creates or extends the
//! case, and confirms to the customer inside the 24-hour window. Without a running service the
//! request waits in the outbox until one starts.

use std::path::PathBuf;
use std::process::ExitCode;

use chatport_bridge::config::Config;
use chatport_bridge::flows::creatio::manual::{ManualRequest, enqueue_manual};

/// Arguments of `chatport handoff`.
#[derive(Debug, clap::Args)]
pub(crate) struct HandoffArgs {
    /// The customer: phone number in any format (+49 151 …) or business-scoped user id.
    user: String,
    /// The configuration file (its [store] path is the outbox).
    #[arg(long, short)]
    config: PathBuf,
    /// The business phone number id of the conversation (default: the customer's latest).
    #[arg(long)]
    phone_number_id: Option<String>,
    /// A note for the agent, written into the case.
    #[arg(long)]
    note: Option<String>,
    /// An id for this request: repeating it does not hand off twice (default: a new id).
    #[arg(long)]
    request_id: Option<String>,
}

pub(crate) async fn run(args: HandoffArgs) -> ExitCode {
    let result = async {
        let config = Config::load(&args.config)?;
        if !config.flows.c1.enabled {
            return Err(chatport_bridge::Error::Config(
                "flows.c1 is not enabled in this configuration".into(),
            ));
        }
        let stores = chatport_bridge::service::Stores::open(
            &config.store,
            &chatport_bridge::settings::EnvVars,
        )
        .await?;
        let request = ManualRequest::new(args.user)
            .phone_number_id(args.phone_number_id)
            .note(args.note);
        enqueue_manual(stores.outbox.as_ref(), &request, args.request_id.as_deref()).await
    }
    .await;
    match result {
        Ok((id, true)) => {
            println!("handoff requested: {id}");
            ExitCode::SUCCESS
        }
        Ok((id, false)) => {
            println!("handoff already requested: {id}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("chatport handoff: {error}");
            ExitCode::from(1)
        }
    }
}
